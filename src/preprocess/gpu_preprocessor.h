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
  // spec's dtype) on `stream`, turned clockwise by `rotation` (0, 90, 180, 270) first. Throws
  // vidinfer::Error if the launch fails.
  Geometry run(const AVFrame* frame, uintptr_t out, uintptr_t stream, int rotation = 0);

  // The kernel's parameters for a frame (exposed for tests). `g` is planned from the picture's size
  // (shown_size), which a frame NVDEC decoded smaller than it shows is not: the kernel reads the
  // frame's own width x height.
  cuda::PreprocessParams params(const AVFrame* frame, const Geometry& g, uintptr_t out) const;

  // Chroma sampling position for 4:2:0 when the frame keeps its size, as offsets from the centred
  // position in chroma pixels. The defaults reproduce swscale's unscaled path (the CPU path, and the
  // reference the GPU path is held to): centred horizontally, a quarter chroma row up vertically,
  // measured on real content to within 1 level. With any resize chroma is sited centred, as
  // swscale's filters do; a frame NVDEC scaled counts as resized (its reference is).
  float chroma_shift_x = 0.f, chroma_shift_y = -0.25f;

  // PreprocessParams::kernel for the frames: 0 the separable kernel where it fits (the default),
  // 1 the direct one (Tuning::preprocess_kernel Direct), 2 the separable one only.
  int kernel = 0;

 private:
  ModelSpec spec_;
};

}  // namespace vidinfer
