// The annotation pass: after an input's results are known, it is decoded again and its frames are
// drawn with them and written out (video and/or PNG stills). On the GPU path the second decode is
// NVDEC's, the picture is converted at full size by the fused kernel and drawn on the device; only
// the finished picture goes to the host, for the encoder.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <memory>

#include "common/av.h"
#include "preprocess/gpu_preprocessor.h"
#include "vidinfer/options.h"
#include "vidinfer/results.h"

namespace vidinfer {

struct AnnotateTarget {
  std::string input;
  std::string video;       // annotated video to write ("" none): frames from the first processed one
                           // to the last one's `every`-frame span, each with the boxes of the latest
                           // processed frame
  int64_t every = 1;
  std::string frames_dir;  // PNG still of every processed frame ("" none): DIR/<name>-<frame>.png
  bool gpu = false;        // decode with NVDEC and draw on CUDA device `device` (when NVDEC takes it)
  int device = 0;
  int decode_threads = 0;
};

// Full-size RGB of decoded frames as [H, W, 3] uint8 tensors: for device frames on the GPU (the fused
// kernel at 1:1 scale, normalised to 0..255; `stream` is the decoder's), else swscale on the host.
// One instance per decoder; not thread-safe.
class RgbSource {
 public:
  RgbSource(int device, uintptr_t stream);
  ~RgbSource();
  torch::Tensor operator()(const AVFrame* f, int w, int h);

 private:
  int device_;
  uintptr_t stream_;
  ModelSpec spec_;
  std::unique_ptr<GpuPreprocessor> gpu_;
  torch::Tensor planes_;
};

// `found`: processed frame index -> its detections (in frame pixels). Throws vidinfer::Error naming
// the input or the output file.
void annotate_input(const AnnotateTarget& t, const std::map<int64_t, std::vector<Detection>>& found);

// "dir/clip.mp4" -> "clip" (what {name} stands for in --annotate paths).
std::string input_stem(const std::string& path);

}  // namespace vidinfer
