// Runs LibTorch's work for the calling thread on a non-blocking CUDA stream of its pool instead of
// the legacy default stream, which would serialise against the decoder's and kernels' streams.
// Only meaningful when LibTorch has CUDA; elsewhere a no-op with handle 0.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <memory>

#include "vidinfer/options.h"

namespace vidinfer {

class ModelStream {
 public:
  // Makes a stream of LibTorch's pool (or `stream`, one taken before with pool_cuda_stream) current
  // for this thread; a pool stream is of high priority when `priority` is StreamPriority::Model.
  explicit ModelStream(torch::Device device, uintptr_t stream = 0, StreamPriority priority = StreamPriority::Preprocess);
  ~ModelStream();                              // restores the previous stream
  ModelStream(const ModelStream&) = delete;
  ModelStream& operator=(const ModelStream&) = delete;
  uintptr_t handle() const { return handle_; }  // cudaStream_t as an integer; 0 on the CPU

 private:
  struct Guard;
  std::unique_ptr<Guard> guard_;
  uintptr_t handle_ = 0;
};

// The calling thread's current LibTorch CUDA stream on `device` (cudaStream_t as an integer), for
// kernels of ours that work on LibTorch tensors; 0 without CUDA.
uintptr_t current_cuda_stream(torch::Device device);

// A stream of LibTorch's pool on `device`, not made current (0 without CUDA). Keep using the same
// one for the same kind of work: LibTorch's allocator keeps a pool of memory per stream, and memory
// freed on one stream is not reused for another.
uintptr_t pool_cuda_stream(torch::Device device, StreamPriority priority = StreamPriority::Preprocess);

// The stream a batch's head runs on while the next batch's forward runs on `model_stream` (a pool
// stream other than it); 0 on the CPU (model_stream 0).
uintptr_t head_cuda_stream(torch::Device device, uintptr_t model_stream, StreamPriority priority = StreamPriority::Preprocess);

}  // namespace vidinfer
