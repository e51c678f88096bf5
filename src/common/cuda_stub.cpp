// Built instead of cuda.cu when no CUDA toolkit was found: the GPU path is then absent and every
// call that would need CUDA throws saying so.
#include "common/cuda.h"

#include "vidinfer/error.h"

namespace vidinfer::cuda {
namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(what, "", "this build of vidinfer has no CUDA kernels (no CUDA toolkit at build time)");
}
}  // namespace

bool kernels_available() { return false; }
void check(int code, const char* what) {
  if (code != 0) no_cuda(what);
}
void check_launch(const char*) {}
void clear_launch_error() {}

Event Event::make(Timing) { no_cuda("cannot create a CUDA event"); }
Event::~Event() = default;
Event& Event::operator=(Event&& o) noexcept {
  e_ = std::exchange(o.e_, 0);
  return *this;
}
void Event::record(uintptr_t) const { no_cuda("cannot record a CUDA event"); }
void Event::synchronize() const { no_cuda("cannot wait for a CUDA event"); }
float Event::elapsed_ms(const Event&, const Event&) { no_cuda("cannot time CUDA events"); }
void wait(uintptr_t, const Event&) { no_cuda("cannot order CUDA work"); }

Stream Stream::make(bool) { no_cuda("cannot create a CUDA stream"); }
Stream::~Stream() = default;
Stream& Stream::operator=(Stream&& o) noexcept {
  s_ = std::exchange(o.s_, 0);
  return *this;
}
void Stream::synchronize() const { no_cuda("cannot wait for a CUDA stream"); }

}  // namespace vidinfer::cuda
