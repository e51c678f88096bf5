// Typed CUDA handles and the one check for CUDA runtime calls, for code that must not include CUDA
// headers (LibTorch's and ffnvcodec's declarations clash with them, see CONVENTIONS.md): streams and
// events travel as integers (a cudaStream_t / cudaEvent_t is a pointer), and every failure throws
// vidinfer::Error with the CUDA error's name and text. Built from cuda.cu with a CUDA toolkit, else
// from cuda_stub.cpp, where kernels_available() is false and every call throws saying so.
#pragma once

#include <cstdint>
#include <utility>

namespace vidinfer::cuda {

// True when this build has the CUDA kernels (a CUDA toolkit was found at build time).
bool kernels_available();

// Throws vidinfer::Error("<what>", "", "<CUDA error name>: <text>") unless `code` (a cudaError_t) is
// cudaSuccess (0). `what` says what was being done ("cannot record a CUDA event").
void check(int code, const char* what);
// The same for the last launch on this thread (cudaGetLastError), after a kernel launch.
void check_launch(const char* what);
// Clears an earlier call's sticky launch error, so that it is not reported as the next launch's.
void clear_launch_error();

// A CUDA event, owned: created on construction (on the current device), destroyed with it.
// Move-only. Not thread-safe as an object; recording and waiting from different threads in turn,
// ordered by the caller, is what events are for.
class Event {
 public:
  enum class Timing { Off, On };  // On: for measuring (elapsed_ms); Off is cheaper to record and wait on
  Event() = default;             // empty: no event (get() == 0)
  static Event make(Timing timing = Timing::Off);
  ~Event();
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, 0)) {}
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  uintptr_t get() const { return e_; }
  explicit operator bool() const { return e_ != 0; }
  void record(uintptr_t stream) const;  // on `stream` (0: the legacy default stream)
  void synchronize() const;             // waits on the host until the event has passed
  // Milliseconds between two timed events that have passed.
  static float elapsed_ms(const Event& start, const Event& end);

 private:
  explicit Event(uintptr_t e) : e_(e) {}
  uintptr_t e_ = 0;
};

// `stream` waits (on the device) for `event`'s last recording.
void wait(uintptr_t stream, const Event& event);

// A non-blocking CUDA stream on the current device, owned. `high_priority`: the device's greatest
// priority (so that the GPU's block scheduler serves it first).
class Stream {
 public:
  Stream() = default;
  static Stream make(bool high_priority = false);
  ~Stream();
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, 0)) {}
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  uintptr_t get() const { return s_; }
  void synchronize() const;

 private:
  explicit Stream(uintptr_t s) : s_(s) {}
  uintptr_t s_ = 0;
};

}  // namespace vidinfer::cuda
