#include "infer/model.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <sched.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "vidinfer/error.h"

#ifdef VIDINFER_TORCH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <torch/version.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
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

Model::Model(const std::string& path, torch::Device device, DType dtype, int cpu_threads)
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
  if (device_.is_cpu()) {
    // Process-wide: LibTorch has one intra-op thread count. Debian's LibTorch starts at 1 thread,
    // which left the second core of a 2-core machine idle.
    at::set_num_threads(cpu_threads > 0 ? cpu_threads : cpu_threads_available());
    // Frozen (weights as constants, conv + batch norm folded) and optimised for inference (oneDNN
    // where it pays): the module is only ever run forward here.
    try {
      torch::jit::Module frozen = torch::jit::freeze(module_);
      module_ = torch::jit::optimize_for_inference(frozen);
      optimized_ = true;
    } catch (const std::exception&) {  // runs as loaded (see optimized_for_cpu)
    }
  }
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

#ifdef VIDINFER_TORCH_CUDA
struct Model::Graphs {
  at::cuda::CUDAGraph graph;
  torch::Tensor in;
  torch::jit::IValue out;
};

namespace {
// A copy of a forward's outputs (tensors, and tuples, lists and dicts of them) in new tensors: the
// graph's own outputs are overwritten by the next replay, and the next replay's intermediates may
// land where they were. The copies are ordinary allocations on the model's stream, like the outputs
// of a launched forward.
torch::jit::IValue clone_outputs(const torch::jit::IValue& v) {
  if (v.isTensor()) return v.toTensor().clone();
  if (v.isTuple()) {
    std::vector<torch::jit::IValue> e;
    for (const auto& x : v.toTupleRef().elements()) e.push_back(clone_outputs(x));
    return c10::ivalue::Tuple::create(std::move(e));
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> l;
    const c10::List<at::Tensor> src = v.toTensorList();
    for (size_t i = 0; i < src.size(); ++i) l.push_back(src.get(i).clone());
    return l;
  }
  if (v.isList()) {
    const auto src = v.toList();
    c10::impl::GenericList l(src.elementType());
    for (size_t i = 0; i < src.size(); ++i) l.push_back(clone_outputs(src.get(i)));
    return l;
  }
  if (v.isGenericDict()) {
    const auto src = v.toGenericDict();
    c10::impl::GenericDict d(src.keyType(), src.valueType());
    for (const auto& e : src) d.insert(e.key(), clone_outputs(e.value()));
    return d;
  }
  return v;
}
}  // namespace
#else
struct Model::Graphs {};
#endif

bool Model::capture_graphs(const std::vector<int64_t>& shape, std::string* why) {
  graphs_.reset();
  if (!device_.is_cuda()) {
    *why = "the model is not on a GPU";
    return false;
  }
#ifdef VIDINFER_TORCH_CUDA
  c10::InferenceMode mode;
  auto g = std::make_shared<Graphs>();
  // Recorded on a stream of the pool (a capture cannot be on the default stream); replayed on
  // whichever stream is current at forward().
  c10::cuda::CUDAStreamGuard on(c10::cuda::getStreamFromPool(false, device_.index()));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_.index()).stream();
  bool capturing = false;
  try {
    g->in = torch::zeros(shape, torch::TensorOptions().device(device_).dtype(dtype_));
    module_.forward({g->in});  // once on this stream before recording, as PyTorch asks
    C10_CUDA_CHECK(cudaStreamSynchronize(stream));
    capturing = true;
    // Thread-local: the recording must not make other threads' CUDA calls fail (the global mode,
    // PyTorch's default, forbids cudaMalloc and the like in every thread of the process meanwhile,
    // and another pipeline's decoders may be running).
#if TORCH_VERSION_MAJOR >= 2
    g->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
#else
    g->graph.capture_begin();  // LibTorch 1.x records in the global mode only
#endif
    g->out = module_.forward({g->in});
    g->graph.capture_end();
    capturing = false;
    g->graph.replay();  // the first replay uploads the graph: not in the first batch's time
    C10_CUDA_CHECK(cudaStreamSynchronize(stream));
    // The warm-up's launched forwards left their intermediates cached in the ordinary pool; the
    // graph has its own. Give the cached ones back (a last, partial batch allocates again).
    c10::cuda::CUDACachingAllocator::emptyCache();
  } catch (const std::exception& e) {
    *why = forward_error_cause(e.what());
    if (capturing) {
      // End the recording the error left open (this also ends the allocator's use of the graph's
      // pool for this stream), and clear the error it leaves.
      try {
        g->graph.capture_end();
      } catch (const std::exception&) {
      }
      cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
      if (cudaStreamIsCapturing(stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
        cudaGraph_t left = nullptr;
        if (cudaStreamEndCapture(stream, &left) == cudaSuccess && left) cudaGraphDestroy(left);
      }
    }
    (void)cudaGetLastError();
    return false;
  }
  graphs_ = std::move(g);
  return true;
#else
  (void)shape;
  *why = "this build's LibTorch has no CUDA";
  return false;
#endif
}

void Model::release_graphs() { graphs_.reset(); }

torch::jit::IValue Model::forward(const torch::Tensor& batch) {
  c10::InferenceMode guard;
  try {
#ifdef VIDINFER_TORCH_CUDA
    if (graphs_ && batch.sizes() == graphs_->in.sizes()) {
      graphs_->in.copy_(batch, /*non_blocking=*/true);
      graphs_->graph.replay();
      return clone_outputs(graphs_->out);
    }
#endif
    auto input = batch.to(device_, dtype_, /*non_blocking=*/true);
    return module_.forward({input});
  } catch (const c10::Error& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what()));
  }
}

}  // namespace vidinfer
