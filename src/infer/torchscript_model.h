// TorchScriptModel: a TorchScript module (.pt, torch.jit.save) loaded once, run on batches. Owns the
// module; forward() may be called from one thread at a time. Loading a TorchScript file runs its
// code: load only models you trust (docs/models.md).
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "infer/model.h"

namespace vidinfer {

class TorchScriptModel : public Model {
 public:
  // Throws vidinfer::Error naming `path`: missing file, not TorchScript, or cannot move to device.
  // On the CPU: LibTorch's intra-op threads are set to `cpu_threads` (0: default_cpu_threads()),
  // and the module is frozen and optimised for inference (see optimized_for_cpu()).
  TorchScriptModel(const std::string& path, torch::Device device, DType dtype, int cpu_threads = 0);

  torch::jit::IValue forward(const torch::Tensor& batch) override;

  // Records the forward of a batch of `shape` (in the model's dtype) as a CUDA graph, after the
  // model has been warmed up: forward() then replays it for every batch of that shape (copying the
  // batch into the graph's input, and the graph's outputs into new tensors, which the caller owns
  // as it owns a launched forward's) instead of launching each kernel. Why: a ResNet-50-class model
  // at batch 32 launches ~170 kernels per forward; beside 8 decoder threads making CUDA calls,
  // launching took as long as the GPU's work (5.2 ms of a 5.4 ms forward) and set the pace.
  // Returns false, with the reason in *why, when the model is not on a GPU or the recording failed
  // (a model that synchronises with the host cannot be recorded); forward() then launches as before.
  bool capture_graphs(const std::vector<int64_t>& shape, std::string* why) override;
  void release_graphs() override;

  // Whether the CPU module was frozen and optimised for inference (torch.jit.freeze +
  // optimize_for_inference): the bundled CenterNet ran 0.71 -> 0.28 s a frame with Debian's PyTorch
  // 1.13. A module that cannot be frozen (one that changes its attributes in forward) runs as loaded.
  bool optimized_for_cpu() const override { return optimized_; }

 private:
  torch::ScalarType dtype_;
  torch::jit::Module module_;
  bool optimized_ = false;
  struct Graphs;
  std::shared_ptr<Graphs> graphs_;
};

}  // namespace vidinfer
