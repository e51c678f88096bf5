// Model: a TorchScript module loaded once, run on batches. Owns the module; forward() may be called
// from one thread at a time.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "vidinfer/error.h"
#include "vidinfer/options.h"

namespace vidinfer {

// Auto: CUDA when LibTorch has it and a GPU is present, else CPU. Cuda without that GPU throws.
torch::Device resolve_device(const Device& d);
torch::ScalarType to_scalar_type(DType d);

class Model {
 public:
  // Throws vidinfer::Error naming `path`: missing file, not TorchScript, or cannot move to device.
  // On the CPU: LibTorch's intra-op threads are set to `cpu_threads` (0: cpu_threads_available()),
  // and the module is frozen and optimised for inference (see optimized_for_cpu()).
  Model(const std::string& path, torch::Device device, DType dtype, int cpu_threads = 0);

  // batch: [B,3,H,W] on any device and floating dtype (host batches are float32; device batches
  // already come in the model's dtype); moved/converted here only when needed.
  // Throws vidinfer::Error with the model's own message (first line) when forward fails.
  torch::jit::IValue forward(const torch::Tensor& batch);

  // Records the forward of a batch of `shape` (in the model's dtype) as a CUDA graph, after the
  // model has been warmed up: forward() then replays it for every batch of that shape (copying the
  // batch into the graph's input, and the graph's outputs into new tensors, which the caller owns
  // as it owns a launched forward's) instead of launching each kernel. Why: a ResNet-50-class model
  // at batch 32 launches ~170 kernels per forward; beside 8 decoder threads making CUDA calls,
  // launching took as long as the GPU's work (5.2 ms of a 5.4 ms forward) and set the pace.
  // Returns false, with the reason in *why, when the model is not on a GPU or the recording failed (a model that synchronises with the host cannot be recorded);
  // forward() then launches as before.
  bool capture_graphs(const std::vector<int64_t>& shape, std::string* why);
  void release_graphs();

  torch::Device device() const { return device_; }
  // Whether the CPU module was frozen and optimised for inference (torch.jit.freeze +
  // optimize_for_inference): the bundled CenterNet ran 0.71 -> 0.28 s a frame with Debian's PyTorch
  // 1.13. A module that cannot be frozen (one that changes its attributes in forward) runs as loaded.
  bool optimized_for_cpu() const { return optimized_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  torch::Device device_;
  torch::ScalarType dtype_;
  torch::jit::Module module_;
  bool optimized_ = false;
  struct Graphs;
  std::shared_ptr<Graphs> graphs_;
};

// The CPUs this process may run on (sched_getaffinity); at least 1.
int cpu_threads_available();

// First line of a c10::Error message (LibTorch's messages carry stack traces below it).
std::string first_line(const std::string& text);

// The line of a forward-pass error that says what went wrong: the first line of a plain LibTorch
// error; for an error raised inside TorchScript, whose first line is only "The following operation
// failed in the TorchScript interpreter." above a traceback, the exception line at its end.
std::string forward_error_cause(const std::string& text);

// Whether a forward-pass error (from Model::forward) was the device running out of memory
// ("CUDA out of memory. Tried to allocate ...", "CUDA error: out of memory", ...).
bool is_out_of_memory(const Error& e);

}  // namespace vidinfer
