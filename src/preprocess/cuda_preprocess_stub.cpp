// Built instead of cuda_preprocess.cu when no CUDA toolkit was found: the GPU path is then absent
// and every call says so.
#include "preprocess/cuda_preprocess.h"

#include "vidinfer/error.h"

namespace vidinfer::cuda {
void launch_preprocess(const PreprocessParams&, uintptr_t) {
  throw Error("cannot preprocess a frame on the GPU", "",
              "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)");
}
int preprocess_kernel_choice(const PreprocessParams&) { return 0; }
}  // namespace vidinfer::cuda
