// Runs LibTorch's work for the calling thread on a non-blocking CUDA stream of its pool instead of
// the legacy default stream, which would serialise against the decoder's and kernels' streams.
// Only meaningful when LibTorch has CUDA; elsewhere a no-op with handle 0.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace vidinfer {

class ModelStream {
 public:
  explicit ModelStream(torch::Device device);  // makes the stream current for this thread
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

// How many batches are in the model at once. One: the consumer's thread runs the model. More
// (VIDINFER_MODEL_LANES, 1 to 4, for measuring): each on its own thread and stream, so that one
// batch's host work (launching, the head's copies) overlaps another one's GPU work.
int model_lanes(torch::Device device);

}  // namespace vidinfer
