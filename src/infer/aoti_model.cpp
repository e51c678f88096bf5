// AotiModel (aoti_model.h): an AOTInductor package through LibTorch's AOTIModelPackageLoader.
#include "infer/aoti_model.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <algorithm>
#include <optional>

#include "infer/model_format.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"

#ifdef VIDINFER_TORCH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace vidinfer {
namespace {

std::string sizes_of(const torch::Tensor& t) {
  std::string s;
  for (int64_t d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// The package's outputs as the heads take them, cut back to the `n` frames given where the batch was
// padded to `rows` (each output whose first dimension is the padded batch), copied where `clone` (the
// outputs of a CUDA graph are overwritten by its next replay).
torch::jit::IValue outputs(const std::vector<at::Tensor>& out, int64_t n, int64_t rows, bool clone) {
  std::vector<torch::jit::IValue> e;
  e.reserve(out.size());
  for (at::Tensor t : out) {
    if (rows > n && t.dim() >= 1 && t.size(0) == rows) t = t.narrow(0, 0, n);
    e.emplace_back(clone ? t.clone() : t);
  }
  if (e.size() == 1) return e[0];
  return c10::ivalue::Tuple::create(std::move(e));
}

}  // namespace

#ifdef VIDINFER_TORCH_CUDA
struct AotiModel::Graphs {
  at::cuda::CUDAGraph graph;
  torch::Tensor in;
  std::vector<at::Tensor> out;
};
#else
struct AotiModel::Graphs {};
#endif

AotiModel::AotiModel(const std::string& path, torch::Device device, DType dtype, int cpu_threads)
    : Model(path, device), dtype_(to_scalar_type(dtype)) {
  if (model_format(path) != ModelFormat::AotiPackage)
    throw Error("cannot load model", path, "not an AOTInductor package (no data/aotinductor/ entries)");
  // The device type it was compiled for, read before loading it: the loader would otherwise fail
  // (a CUDA package without a GPU) or run on a device the pipeline does not expect.
  const auto meta = aoti_package_metadata(path);
  const auto key = meta.find("AOTI_DEVICE_KEY");
  const std::string compiled_for = key == meta.end() ? "" : key->second;
  if (compiled_for == "cuda" && !device_.is_cuda())
    throw Error("cannot load model", path,
                "the package was compiled for CUDA GPUs, and the model is to run on the CPU (use --device cuda on a "
                "machine with a GPU, or export it again with --device cpu)");
  if (compiled_for == "cpu" && !device_.is_cpu())
    throw Error("cannot load model", path,
                "the package was compiled for the CPU (use --device cpu, or export it again with --device cuda)");
  // Its dtype and batches: from its metadata, else its sidecar; required (a package does not check
  // its inputs, and a wrong dtype or batch would be read as garbage).
  ModelSpec spec = load_model_sidecar(path).spec;
  const std::string sidecar = path + ".json";
  if (spec.max_batch == 0)
    throw Error("cannot load model", path,
                "the package does not say which batch sizes it was compiled for: give \"batch_range\": [min, max] "
                "in its sidecar " + sidecar + " (scripts/export-model writes it)");
  if (!spec.compiled_dtype)
    throw Error("cannot load model", path,
                "the package does not say which dtype it was compiled for: give \"dtype\" in its sidecar " + sidecar +
                    " (scripts/export-model writes it)");
  spec.dtype = dtype;
  spec.batch = spec.min_batch;
  check_model_spec(spec, path);  // "model does not run in D"
  min_batch_ = spec.min_batch;
  max_batch_ = spec.max_batch;

  if (device_.is_cpu()) at::set_num_threads(cpu_threads > 0 ? cpu_threads : default_cpu_threads());
  try {
#ifdef VIDINFER_TORCH_CUDA
    // The runner takes the current device when the package names none (the loader's device index
    // argument is not in every LibTorch that has the loader).
    std::optional<c10::cuda::CUDAGuard> on;
    if (device_.is_cuda()) on.emplace(device_.index());
#endif
    loader_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path, "model");
  } catch (const c10::Error& e) {
    throw Error("cannot load model", path,
                "AOTInductor could not load the package (" + first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw Error("cannot load model", path, "AOTInductor could not load the package (" + first_line(e.what()) + ")");
  }
  // As for TorchScript: float32 means float32 in the library calls the package makes (cuBLAS,
  // cuDNN), not TF32.
  if (device_.is_cuda() && dtype_ == torch::kFloat) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
#pragma GCC diagnostic pop
  }
}

AotiModel::~AotiModel() = default;

void* AotiModel::stream() const {
#ifdef VIDINFER_TORCH_CUDA
  if (device_.is_cuda()) return c10::cuda::getCurrentCUDAStream(device_.index()).stream();
#endif
  return nullptr;
}

bool AotiModel::capture_graphs(const std::vector<int64_t>& shape, std::string* why) {
  graphs_.reset();
  if (!device_.is_cuda()) {
    *why = "the model is not on a GPU";
    return false;
  }
#ifdef VIDINFER_TORCH_CUDA
  if (shape.size() != 4 || shape[0] < min_batch_ || shape[0] > max_batch_) {
    *why = "the batch is not one the package was compiled for";
    return false;
  }
  c10::InferenceMode mode;
  auto g = std::make_shared<Graphs>();
  // Recorded on a stream of the pool (a capture cannot be on the default stream), in the
  // thread-local mode, as TorchScriptModel records.
  c10::cuda::CUDAStreamGuard on(c10::cuda::getStreamFromPool(false, device_.index()));
  const cudaStream_t s = c10::cuda::getCurrentCUDAStream(device_.index()).stream();
  bool capturing = false;
  try {
    g->in = torch::zeros(shape, torch::TensorOptions().device(device_).dtype(dtype_));
    loader_->run({g->in}, s);  // once before recording: loads the kernels, allocates
    C10_CUDA_CHECK(cudaStreamSynchronize(s));
    capturing = true;
    g->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    g->out = loader_->run({g->in}, s);
    g->graph.capture_end();
    capturing = false;
    g->graph.replay();
    C10_CUDA_CHECK(cudaStreamSynchronize(s));
    // AOTInductor's model container marks its model in use with an event that each run records;
    // one launched run after the recording shows that the event recorded while capturing does not
    // leave it stuck (partial batches of a package with a range are launched, not replayed).
    loader_->run({g->in}, s);
    C10_CUDA_CHECK(cudaStreamSynchronize(s));
    c10::cuda::CUDACachingAllocator::emptyCache();
  } catch (const std::exception& e) {
    *why = forward_error_cause(e.what());
    if (capturing) {
      try {
        g->graph.capture_end();
      } catch (const std::exception&) {
      }
      cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
      if (cudaStreamIsCapturing(s, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
        cudaGraph_t left = nullptr;
        if (cudaStreamEndCapture(s, &left) == cudaSuccess && left) cudaGraphDestroy(left);
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

void AotiModel::release_graphs() { graphs_.reset(); }

torch::jit::IValue AotiModel::forward(const torch::Tensor& batch) {
  c10::InferenceMode guard;
  try {
    if (batch.dim() != 4)
      throw Error("model forward failed", path_, "expected a batch [B, 3, H, W], got " + sizes_of(batch));
    const int64_t n = batch.size(0);
    if (n > max_batch_)
      throw Error("model forward failed", path_,
                  "a batch of " + std::to_string(n) + " frames; the package takes at most " + std::to_string(max_batch_));
    const int64_t rows = std::max(n, min_batch_);  // padded with zero frames up to the smallest batch it takes
#ifdef VIDINFER_TORCH_CUDA
    if (graphs_ && rows == graphs_->in.size(0) && batch.sizes().slice(1) == graphs_->in.sizes().slice(1)) {
      graphs_->in.narrow(0, 0, n).copy_(batch, /*non_blocking=*/true);
      if (rows > n) graphs_->in.narrow(0, n, rows - n).zero_();
      graphs_->graph.replay();
      return outputs(graphs_->out, n, rows, /*clone=*/true);
    }
#endif
    torch::Tensor x = batch.to(device_, dtype_, /*non_blocking=*/true);
    if (rows > n) {
      std::vector<int64_t> pad = x.sizes().vec();
      pad[0] = rows - n;
      x = torch::cat({x, torch::zeros(pad, x.options())});
    }
    return outputs(loader_->run({x.contiguous()}, stream()), n, rows, /*clone=*/false);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error("model forward failed", path_, forward_error_cause(e.what()));
  }
}

}  // namespace vidinfer
