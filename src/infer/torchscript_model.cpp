#include "infer/torchscript_model.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <filesystem>
#include <optional>

#include "infer/resize_warning_filter.h"
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

TorchScriptModel::TorchScriptModel(const std::string& path, torch::Device device, DType dtype, int cpu_threads)
    : Model(path, device), dtype_(to_scalar_type(dtype)) {
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
    at::set_num_threads(cpu_threads > 0 ? cpu_threads : default_cpu_threads());
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
struct TorchScriptModel::Graphs {
  at::cuda::CUDAGraph graph;
  torch::Tensor in;
  torch::jit::IValue out;
};

namespace {
// A copy of a forward's outputs (tensors, and tuples, lists and dicts of them) in new tensors: the
// graph's own outputs are overwritten by the next replay, and the next replay's intermediates may
// land where they were. The copies are ordinary allocations on the model's stream, like the outputs
// of a launched forward.
// Where the batch was padded to `rows`, each tensor whose first dimension is the padded batch is cut
// back to the `n` frames given.
at::Tensor clone_rows(const at::Tensor& t, int64_t n, int64_t rows) {
  return (rows > n && t.dim() >= 1 && t.size(0) == rows ? t.narrow(0, 0, n) : t).clone();
}

torch::jit::IValue clone_outputs(const torch::jit::IValue& v, int64_t n, int64_t rows) {
  if (v.isTensor()) return clone_rows(v.toTensor(), n, rows);
  if (v.isTuple()) {
    std::vector<torch::jit::IValue> e;
    for (const auto& x : v.toTupleRef().elements()) e.push_back(clone_outputs(x, n, rows));
    return c10::ivalue::Tuple::create(std::move(e));
  }
  if (v.isTensorList()) {
    c10::List<at::Tensor> l;
    const c10::List<at::Tensor> src = v.toTensorList();
    for (size_t i = 0; i < src.size(); ++i) l.push_back(clone_rows(src.get(i), n, rows));
    return l;
  }
  if (v.isList()) {
    const auto src = v.toList();
    c10::impl::GenericList l(src.elementType());
    for (size_t i = 0; i < src.size(); ++i) l.push_back(clone_outputs(src.get(i), n, rows));
    return l;
  }
  if (v.isGenericDict()) {
    const auto src = v.toGenericDict();
    c10::impl::GenericDict d(src.keyType(), src.valueType());
    for (const auto& e : src) d.insert(e.key(), clone_outputs(e.value(), n, rows));
    return d;
  }
  return v;
}
}  // namespace
#else
struct TorchScriptModel::Graphs {};
#endif

bool TorchScriptModel::capture_graphs(const std::vector<int64_t>& shape, std::string* why) {
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

void TorchScriptModel::release_graphs() { graphs_.reset(); }

torch::jit::IValue TorchScriptModel::forward(const torch::Tensor& batch) {
  c10::InferenceMode guard;
  std::optional<ResizeWarningFilter> quiet;  // see resize_warning_filter.h
  if (optimized_) quiet.emplace();
  try {
#ifdef VIDINFER_TORCH_CUDA
    // A partial batch (a live input's batch cut by time, an input's last) replays the full batch's
    // graph too, with the rows beyond it zeroed and its outputs cut back to its rows: a launched
    // forward of a new batch size makes cuDNN choose its kernels again (seconds for the bundled
    // CenterNet in fp16 on an H100, while live frames wait).
    if (graphs_) {
      const at::IntArrayRef g = graphs_->in.sizes();
      const int64_t n = batch.dim() == static_cast<int64_t>(g.size()) ? batch.size(0) : 0;
      if (n > 0 && n <= g[0] && batch.sizes().slice(1) == g.slice(1)) {
        graphs_->in.narrow(0, 0, n).copy_(batch, /*non_blocking=*/true);
        if (n < g[0]) graphs_->in.narrow(0, n, g[0] - n).zero_();
        graphs_->graph.replay();
        return clone_outputs(graphs_->out, n, g[0]);
      }
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
