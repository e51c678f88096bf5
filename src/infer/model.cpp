#include "infer/model.h"

#include <ATen/Parallel.h>
#include <sched.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "infer/model_format.h"
#include "infer/torchscript_model.h"
#include "vidinfer/error.h"

#ifdef VIDINFER_HAVE_AOTI
#include "infer/aoti_model.h"
#endif


namespace vidinfer {

std::string first_line(const std::string& text) {
  const auto nl = text.find('\n');
  std::string line = text.substr(0, nl);
  // TorchScript errors often start with a blank or a generic line; take the first informative one.
  if (line.find_first_not_of(" \t") == std::string::npos && nl != std::string::npos)
    return first_line(text.substr(nl + 1));
  return line;
}

namespace {
// "RuntimeError: ...", "torch.OutOfMemoryError: ...", "builtins.Exception: ...": a Python exception
// line as TorchScript prints it.
bool is_exception_line(const std::string& line) {
  const size_t colon = line.find(": ");
  if (colon == std::string::npos || colon == 0) return false;
  const std::string name = line.substr(0, colon);
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != std::string::npos) return false;
  const auto ends_with = [&](const char* s) {
    const std::string e(s);
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  return ends_with("Error") || ends_with("Exception");
}
}  // namespace

std::string forward_error_cause(const std::string& text) {
  if (text.find("Traceback of TorchScript") == std::string::npos) return first_line(text);
  // The exception line below the traceback; CUDA errors add advice lines after it ("CUDA kernel
  // errors might be asynchronously reported ...", "Compile with `TORCH_USE_CUDA_DSA` ..."), so the
  // last line that names an exception, else the last line that is not blank.
  std::string last;
  size_t end = text.size();
  while (end > 0) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) {
      if (last.empty()) last = line;
      if (is_exception_line(line)) {
        last = line;
        break;
      }
    }
    if (start == std::string::npos) break;
    end = start;
  }
  if (last.empty()) return first_line(text);
  return last.rfind("builtins.", 0) == 0 ? last.substr(9) : last;  // "builtins.Exception: ..."
}

bool is_out_of_memory(const Error& e) { return e.cause().find("out of memory") != std::string::npos; }

torch::Device resolve_device(const Device& d) {
  if (d.kind == Device::Kind::Cpu) return torch::kCPU;
  const bool have_cuda = torch::cuda::is_available();
  if (d.kind == Device::Kind::Auto) return have_cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (!have_cuda)
    throw Error("device '" + d.str() + "' is not available", "",
                "no CUDA GPU is visible to this LibTorch (use --device cpu or auto)");
  const int count = static_cast<int>(torch::cuda::device_count());
  if (d.index < 0 || d.index >= count)
    throw Error("device '" + d.str() + "' is not available", "", std::to_string(count) + " CUDA device(s) present");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(d.index));
}

torch::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::Float16: return torch::kHalf;
    case DType::BFloat16: return torch::kBFloat16;
    default: return torch::kFloat;
  }
}

int cpu_threads_available() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int default_cpu_threads() {
  // OMP_NUM_THREADS is the OpenMP runtime's own setting, which LibTorch follows when nobody sets a
  // count: honoured here too, or our set_num_threads would silently undo it. Several processes on one
  // machine (a parallel ctest, one worker per core) otherwise each start a thread per core, and
  // OpenMP's barriers slowed such runs 60-180x on the 16-core GPU machine.
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && n > 0 && n < 100000) return static_cast<int>(n);
  }
  return cpu_threads_available();
}

std::unique_ptr<Model> load_model(const std::string& path, torch::Device device, DType dtype, int cpu_threads) {
  // One class per model format, chosen by the file (see model_format()).
  switch (model_format(path)) {
    case ModelFormat::AotiPackage:
#ifdef VIDINFER_HAVE_AOTI
      return std::make_unique<AotiModel>(path, device, dtype, cpu_threads);
#else
      throw Error("cannot load model", path,
                  "an AOTInductor package (.pt2) needs LibTorch 2.6 or newer with AOTInductor; this build's LibTorch is " +
                      torch_version());
#endif
    case ModelFormat::TorchScript:
      break;
  }
  return std::make_unique<TorchScriptModel>(path, device, dtype, cpu_threads);
}

}  // namespace vidinfer
