// Built instead of cuda_centernet.cu when no CUDA toolkit was found.
#include "postprocess/cuda_centernet.h"

#include "vidinfer/error.h"

namespace vidinfer::cuda {
void launch_centernet(const CenterNetParams&, uintptr_t) {
  throw Error("GPU CenterNet decoding failed", "",
              "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)");
}
}  // namespace vidinfer::cuda
