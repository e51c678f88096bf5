// Model: the interface every model format implements, load_model(), and the helpers they share
// (the device, error lines, CPU threads).
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

// A model, whatever its format: loaded once, run on batches. One class per format (TorchScript:
// TorchScriptModel; an AOTInductor package (.pt2): AotiModel; a function given in code, e.g. a
// Python callable: CallableModel), so that a new format plugs in by adding a class and a branch in
// load_model(). forward() may be called from one thread at a time.
class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // batch: [B,3,H,W] on any device and floating dtype (host batches are float32; device batches
  // already come in the model's dtype); moved/converted where the format needs it.
  // Throws vidinfer::Error with the model's own message (first line) when forward fails.
  virtual torch::jit::IValue forward(const torch::Tensor& batch) = 0;

  // Records the forward of a batch of `shape` as a CUDA graph, replayed by forward() for batches of
  // that shape (see TorchScriptModel). Returns false, with the reason in *why, where the format or
  // the model cannot be recorded; forward() then launches as before.
  virtual bool capture_graphs(const std::vector<int64_t>& shape, std::string* why) {
    (void)shape;
    *why = "this model format is not recorded";
    return false;
  }
  virtual void release_graphs() {}
  // Whether the model was optimised for the CPU at load (TorchScript: frozen + optimised).
  virtual bool optimized_for_cpu() const { return false; }

  torch::Device device() const { return device_; }
  // The file it was loaded from, or what it is ("python callable") for a model given in code.
  const std::string& path() const { return path_; }

 protected:
  Model(std::string path, torch::Device device) : path_(std::move(path)), device_(device) {}
  std::string path_;
  torch::Device device_;
};

// Loads the model file `path` in the class for its format (model_format(): TorchScript, or an
// AOTInductor package where this build's LibTorch has AOTInductor). Throws vidinfer::Error naming
// `path` (missing, a directory, not a model of a known format, an AOTInductor package on a build
// without AOTInductor, cannot move to device).
std::unique_ptr<Model> load_model(const std::string& path, torch::Device device, DType dtype, int cpu_threads = 0);

// The CPUs this process may run on (sched_getaffinity); at least 1.
int cpu_threads_available();

// LibTorch's intra-op threads on the CPU when the options ask for none (cpu_threads 0):
// OMP_NUM_THREADS where it is set to a positive number, else cpu_threads_available().
int default_cpu_threads();

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
