#include "infer/model.h"

#include <ATen/Context.h>
#include <torch/cuda.h>

#include <filesystem>

#include "vidinfer/error.h"

namespace vidinfer {

std::string first_line(const std::string& text) {
  const auto nl = text.find('\n');
  std::string line = text.substr(0, nl);
  // TorchScript errors often start with a blank or a generic line; take the first informative one.
  if (line.find_first_not_of(" \t") == std::string::npos && nl != std::string::npos)
    return first_line(text.substr(nl + 1));
  return line;
}

std::string forward_error_cause(const std::string& text) {
  if (text.find("Traceback of TorchScript") == std::string::npos) return first_line(text);
  size_t end = text.size();
  while (end > 0) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      return line.rfind("builtins.", 0) == 0 ? line.substr(9) : line;  // "builtins.Exception: ..."
    if (start == std::string::npos) break;
    end = start;
  }
  return first_line(text);
}

bool is_out_of_memory(const Error& e) { return e.cause().find("out of memory") != std::string::npos; }

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  const bool have_cuda = torch::cuda::is_available();
  if (name == "auto") return have_cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!have_cuda)
      throw Error("device '" + name + "' is not available", "",
                  "no CUDA GPU is visible to this LibTorch (use --device cpu or auto)");
    int index = 0;
    if (name.size() > 5) {
      try {
        index = std::stoi(name.substr(5));
      } catch (const std::exception&) {
        throw Error("invalid device '" + name + "'", "", "expected auto, cpu, cuda or cuda:N");
      }
    }
    const int count = static_cast<int>(torch::cuda::device_count());
    if (index < 0 || index >= count)
      throw Error("device '" + name + "' is not available", "", std::to_string(count) + " CUDA device(s) present");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("invalid device '" + name + "'", "", "expected auto, cpu, cuda or cuda:N");
}

torch::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::Float16: return torch::kHalf;
    case DType::BFloat16: return torch::kBFloat16;
    default: return torch::kFloat;
  }
}

Model::Model(const std::string& path, torch::Device device, DType dtype)
    : path_(path), device_(device), dtype_(to_scalar_type(dtype)) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("cannot load model", path, "file not found");
  if (std::filesystem::is_directory(path, ec)) throw Error("cannot load model", path, "is a directory");
  try {
    module_ = torch::jit::load(path, device_);
  } catch (const c10::Error& e) {
    throw Error("cannot load model", path, "not a TorchScript model (" + first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw Error("cannot load model", path, "not a TorchScript model (" + first_line(e.what()) + ")");
  }
  module_.eval();
  if (dtype_ != torch::kFloat) module_.to(dtype_);
  // float32 means float32 on the GPU too: LibTorch lets cuDNN convolutions use TF32 (10-bit
  // mantissa) by default, which moves scores by ~1e-3 and makes the GPU path disagree with the CPU
  // path near thresholds. Reduced precision is asked for with --dtype float16/bfloat16.
  if (device_.is_cuda() && dtype_ == torch::kFloat) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // newer LibTorch also has fp32_precision
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
#pragma GCC diagnostic pop
  }
}

torch::jit::IValue Model::forward(const torch::Tensor& batch) {
  c10::InferenceMode guard;
  try {
    auto input = batch.to(device_, dtype_, /*non_blocking=*/true);
    return module_.forward({input});
  } catch (const c10::Error& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what()));
  }
}

}  // namespace vidinfer
