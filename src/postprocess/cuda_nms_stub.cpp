// Built instead of cuda_nms.cu when no CUDA toolkit was found.
#include "postprocess/cuda_nms.h"

namespace vidinfer::cuda {
const char* launch_nms(uintptr_t, int, float, uintptr_t, uintptr_t, uintptr_t) {
  return "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)";
}
}  // namespace vidinfer::cuda
