// Launcher of the fused preprocessing kernel (cuda_preprocess.cu): one kernel per frame reads a
// decoded NV12/P016 surface in device memory and writes the model's input slot (CHW, float32 /
// float16 / bfloat16, normalised) in device memory: colour conversion with the stream's matrix and
// range, antialiased bilinear resize (a tent filter as wide as the downscale, as swscale's
// SWS_BILINEAR does), letterbox padding or centre crop, normalisation, channel order.
// No CUDA or LibTorch types here: pointers and the stream travel as integers.
#pragma once

#include <cstdint>

namespace vidinfer::cuda {

struct PreprocessParams {
  // Source surface.
  uintptr_t luma = 0, chroma = 0;  // device pointers; chroma interleaved (U, V), half size
  int pitch = 0;                   // bytes per row, both planes
  int src_w = 0, src_h = 0;
  bool sixteen_bit = false;        // P016 (samples in the high bits) instead of NV12
  // Colour: RGB = M * (Y - y_off, C - c_off) with the scales folded in, on 0..1.
  float y_off = 0, y_scale = 1, c_off = 0, c_scale = 1;
  float kr = 0, kb = 0;            // matrix luma weights (BT.601 0.299/0.114 ...)
  // Where 4:2:0 chroma samples sit, as offsets (in chroma pixels) of the chroma sampling position from
  // the centred one. swscale (the CPU reference) uses (0, -0.25); see GpuPreprocessor.
  float chroma_shift_x = 0.f, chroma_shift_y = -0.25f;
  bool chroma_clamp_last = true;       // keep the last rows' chroma window inside the plane
  // Geometry.
  int dst_w = 0, dst_h = 0;            // model input
  int scaled_w = 0, scaled_h = 0;      // frame after resize
  int offset_x = 0, offset_y = 0;      // of the scaled frame in the input (< 0: cropped)
  int rotation = 0;                    // clockwise turn of the source first (0, 90, 180, 270); the
                                       // scaled size above is the turned frame's (see geometry.h)
  // Normalisation, per output channel (already in the model's channel order).
  float mean[3] = {0, 0, 0}, inv_std[3] = {1, 1, 1};
  float fill[3] = {0, 0, 0};           // normalised pad value per output channel
  bool bgr = false;                    // output channel 0 is blue
  // Output.
  uintptr_t out = 0;                   // device pointer to [3, dst_h, dst_w]
  int out_dtype = 0;                   // 0 float32, 1 float16, 2 bfloat16
  // Which kernel: 0 the separable one where it fits (rotation 0 or 180, downscale up to ~15x), else
  // the direct one; 1 the direct one; 2 the separable one only (an error where it does not fit).
  int kernel = 0;
};

// Queues the kernel on `stream` (a cudaStream_t). Throws vidinfer::Error with the CUDA error's name and
// text, or when kernel 2 is asked for where it does not fit.
void launch_preprocess(const PreprocessParams& p, uintptr_t stream);

// The kernel launch_preprocess runs for `p`: 1 direct, 2 separable, 0 none (kernel 2 asked for where
// it does not fit); 0 also without CUDA kernels in the build.
int preprocess_kernel_choice(const PreprocessParams& p);

}  // namespace vidinfer::cuda
