// Built instead of cuda_centernet.cu when no CUDA toolkit was found.
#include "postprocess/cuda_centernet.h"

namespace vidinfer::cuda {
const char* launch_centernet(const CenterNetParams&, uintptr_t) {
  return "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)";
}
}  // namespace vidinfer::cuda
