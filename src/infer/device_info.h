// What the benchmark reads about the CUDA device LibTorch uses. Without CUDA in LibTorch (or on a
// CPU device) each is a harmless no-op: -1 bytes, an empty name.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <string>

namespace vidinfer {

// Device memory in use on `device` by every process (total - free), bytes; -1 when not a CUDA device.
int64_t cuda_memory_used(torch::Device device);
// Device memory the driver has free on `device`, bytes (LibTorch's cache counts as used); -1 when not
// a CUDA device.
int64_t cuda_memory_free(torch::Device device);
// Hands LibTorch's cached, unused device memory back to the driver (between benchmark modes).
void release_cached_cuda_memory();
// Waits for all work queued on `device`.
void cuda_synchronize(torch::Device device);
// "NVIDIA H100 80GB HBM3, driver 13.0"; empty when not a CUDA device.
std::string cuda_device_description(torch::Device device);

}  // namespace vidinfer
