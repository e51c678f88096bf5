// The annotation pass: after an input's results are known, it is decoded again and its frames are
// drawn with them and written out (video and/or PNG stills). On the GPU path the second decode is
// NVDEC's, the picture is converted at full size by the fused kernel and drawn on the device; only
// the finished picture goes to the host, for the encoder.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

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

// `found`: processed frame index -> its detections (in frame pixels). Throws vidinfer::Error naming
// the input or the output file.
void annotate_input(const AnnotateTarget& t, const std::map<int64_t, std::vector<Detection>>& found);

// "dir/clip.mp4" -> "clip" (what {name} stands for in --annotate paths).
std::string input_stem(const std::string& path);

}  // namespace vidinfer
