// Built instead of cuda_nms.cu when no CUDA toolkit was found.
#include "postprocess/cuda_nms.h"

#include "vidinfer/error.h"

namespace vidinfer::cuda {
void launch_nms(uintptr_t, int, float, uintptr_t, uintptr_t, uintptr_t) {
  throw Error("GPU NMS failed", "", "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)");
}
}  // namespace vidinfer::cuda
