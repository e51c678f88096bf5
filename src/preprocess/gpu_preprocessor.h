// The GPU preprocessor: the same contract as CpuPreprocessor (see there) for device frames from the
// NVDEC decoder, done by one fused kernel per frame that writes straight into the model's batch in
// device memory. Host side only (no CUDA headers). One instance per thread.
#pragma once

#include <cstdint>

#include "common/av.h"
#include "preprocess/cuda_preprocess.h"
#include "preprocess/geometry.h"
#include "vidinfer/options.h"

namespace vidinfer {

class GpuPreprocessor {
 public:
  explicit GpuPreprocessor(const ModelSpec& spec);

  // Queues the conversion of device frame `frame` into `out` (device pointer to [3, H, W] in the
  // spec's dtype) on `stream`. Throws vidinfer::Error if the launch fails.
  Geometry run(const AVFrame* frame, uintptr_t out, uintptr_t stream);

  // The kernel's parameters for a frame (exposed for tests).
  cuda::PreprocessParams params(const AVFrame* frame, const Geometry& g, uintptr_t out) const;

  // Horizontal chroma siting the kernel assumes for 4:2:0 (true: left, as H.264/HEVC specify).
  bool chroma_left = true;

 private:
  ModelSpec spec_;
};

}  // namespace vidinfer
