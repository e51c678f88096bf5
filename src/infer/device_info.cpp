#include "infer/device_info.h"

#ifdef VIDINFER_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#include <torch/cuda.h>
#endif

namespace vidinfer {

#ifdef VIDINFER_TORCH_CUDA
namespace {
bool mem_info(torch::Device device, size_t& free, size_t& total) {
  if (!device.is_cuda()) return false;
  c10::cuda::CUDAGuard guard(device.index() < 0 ? 0 : device.index());
  if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return true;
}
}  // namespace

int64_t cuda_memory_used(torch::Device device) {
  size_t free = 0, total = 0;
  return mem_info(device, free, total) ? static_cast<int64_t>(total - free) : -1;
}

int64_t cuda_memory_free(torch::Device device) {
  size_t free = 0, total = 0;
  return mem_info(device, free, total) ? static_cast<int64_t>(free) : -1;
}

void release_cached_cuda_memory() {
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
}

void cuda_synchronize(torch::Device device) {
  if (!device.is_cuda()) return;
  c10::cuda::CUDAGuard guard(device.index() < 0 ? 0 : device.index());
  cudaDeviceSynchronize();
}

std::string cuda_device_description(torch::Device device) {
  if (!device.is_cuda()) return {};
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device.index() < 0 ? 0 : device.index()) != cudaSuccess) return {};
  int driver = 0;
  cudaDriverGetVersion(&driver);
  return std::string(p.name) + ", " + std::to_string(p.totalGlobalMem >> 20) + " MiB, CUDA driver " +
         std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10);
}
#else
int64_t cuda_memory_used(torch::Device) { return -1; }
int64_t cuda_memory_free(torch::Device) { return -1; }
void release_cached_cuda_memory() {}
void cuda_synchronize(torch::Device) {}
std::string cuda_device_description(torch::Device) { return {}; }
#endif

}  // namespace vidinfer
