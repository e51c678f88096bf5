// Built instead of cuda_preprocess.cu when no CUDA toolkit was found: the GPU path is then absent
// and every call says so.
#include "preprocess/cuda_preprocess.h"

namespace vidinfer::cuda {
namespace {
constexpr const char* kNoCuda = "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)";
}
const char* launch_preprocess(const PreprocessParams&, uintptr_t) { return kNoCuda; }
bool kernels_available() { return false; }
int preprocess_kernel_choice(const PreprocessParams&) { return 0; }
const char* event_create(uintptr_t* event) {
  *event = 0;
  return kNoCuda;
}
const char* event_destroy(uintptr_t) { return kNoCuda; }
const char* event_record(uintptr_t, uintptr_t) { return kNoCuda; }
const char* stream_wait_event(uintptr_t, uintptr_t) { return kNoCuda; }
const char* event_synchronize(uintptr_t) { return kNoCuda; }
const char* event_create_timed(uintptr_t* event) {
  *event = 0;
  return kNoCuda;
}
const char* event_elapsed_ms(uintptr_t, uintptr_t, float* ms) {
  *ms = 0;
  return kNoCuda;
}
}  // namespace vidinfer::cuda
