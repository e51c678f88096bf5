// The CUDA runtime side of common/cuda.h.
#include "common/cuda.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "vidinfer/error.h"

namespace vidinfer::cuda {

bool kernels_available() { return true; }

void check(int code, const char* what) {
  const auto rc = static_cast<cudaError_t>(code);
  if (rc == cudaSuccess) return;
  throw Error(what, "", std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc));
}

void check_launch(const char* what) { check(cudaGetLastError(), what); }
void clear_launch_error() { (void)cudaGetLastError(); }

Event Event::make(Timing timing) {
  cudaEvent_t e = nullptr;
  check(timing == Timing::On ? cudaEventCreate(&e) : cudaEventCreateWithFlags(&e, cudaEventDisableTiming),
        "cannot create a CUDA event");
  return Event(reinterpret_cast<uintptr_t>(e));
}

Event::~Event() {
  if (!e_) return;
  // noexcept: at shutdown the context may be gone; the event goes with it.
  if (const cudaError_t rc = cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e_)); rc != cudaSuccess)
    std::fprintf(stderr, "vidinfer: warning: cannot destroy a CUDA event: %s\n", cudaGetErrorString(rc));
}

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    Event old(std::exchange(e_, std::exchange(o.e_, 0)));
  }
  return *this;
}

void Event::record(uintptr_t stream) const {
  check(cudaEventRecord(reinterpret_cast<cudaEvent_t>(e_), reinterpret_cast<cudaStream_t>(stream)),
        "cannot record a CUDA event");
}

void Event::synchronize() const {
  check(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(e_)), "CUDA work failed (waiting for an event)");
}

float Event::elapsed_ms(const Event& start, const Event& end) {
  float ms = 0;
  check(cudaEventElapsedTime(&ms, reinterpret_cast<cudaEvent_t>(start.e_), reinterpret_cast<cudaEvent_t>(end.e_)),
        "cannot time CUDA events");
  return ms;
}

void wait(uintptr_t stream, const Event& event) {
  check(cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(stream), reinterpret_cast<cudaEvent_t>(event.get()), 0),
        "cannot order CUDA work");
}

Stream Stream::make(bool high_priority) {
  int least = 0, greatest = 0;
  cudaStream_t s = nullptr;
  if (high_priority && cudaDeviceGetStreamPriorityRange(&least, &greatest) == cudaSuccess)
    check(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest), "cannot create a CUDA stream");
  else
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cannot create a CUDA stream");
  return Stream(reinterpret_cast<uintptr_t>(s));
}

Stream::~Stream() {
  if (!s_) return;
  if (const cudaError_t rc = cudaStreamDestroy(reinterpret_cast<cudaStream_t>(s_)); rc != cudaSuccess)
    std::fprintf(stderr, "vidinfer: warning: cannot destroy a CUDA stream: %s\n", cudaGetErrorString(rc));
}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    Stream old(std::exchange(s_, std::exchange(o.s_, 0)));
  }
  return *this;
}

void Stream::synchronize() const {
  check(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(s_)), "CUDA work failed (waiting for a stream)");
}

}  // namespace vidinfer::cuda
