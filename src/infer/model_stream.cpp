#include "infer/model_stream.h"


#ifdef VIDINFER_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace vidinfer {

#ifdef VIDINFER_TORCH_CUDA
struct ModelStream::Guard {
  explicit Guard(c10::cuda::CUDAStream s) : guard(s) {}
  c10::cuda::CUDAStreamGuard guard;
};

ModelStream::ModelStream(torch::Device device, uintptr_t stream, StreamPriority priority) {
  if (!device.is_cuda()) return;
  auto s = stream ? c10::cuda::getStreamFromExternal(reinterpret_cast<cudaStream_t>(stream), device.index())
                  : c10::cuda::getStreamFromPool(priority == StreamPriority::Model, device.index());
  guard_ = std::make_unique<Guard>(s);
  handle_ = reinterpret_cast<uintptr_t>(s.stream());
}

uintptr_t pool_cuda_stream(torch::Device device, StreamPriority priority) {
  if (!device.is_cuda()) return 0;
  return reinterpret_cast<uintptr_t>(
      c10::cuda::getStreamFromPool(priority == StreamPriority::Model, device.index()).stream());
}
#else
struct ModelStream::Guard {};
ModelStream::ModelStream(torch::Device, uintptr_t, StreamPriority) {}
uintptr_t pool_cuda_stream(torch::Device, StreamPriority) { return 0; }
#endif

ModelStream::~ModelStream() = default;

uintptr_t current_cuda_stream(torch::Device device) {
#ifdef VIDINFER_TORCH_CUDA
  if (device.is_cuda()) return reinterpret_cast<uintptr_t>(c10::cuda::getCurrentCUDAStream(device.index()).stream());
#endif
  (void)device;
  return 0;
}

uintptr_t head_cuda_stream(torch::Device device, uintptr_t model_stream, StreamPriority priority) {
  if (!model_stream) return 0;
  uintptr_t s = pool_cuda_stream(device, priority);
  // (The pool hands out its streams in turn: the model's own would serialise heads behind forwards.)
  if (s == model_stream) s = pool_cuda_stream(device, priority);
  return s;
}

}  // namespace vidinfer
