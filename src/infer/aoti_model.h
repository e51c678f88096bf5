// AotiModel: an AOTInductor package (.pt2: a torch.export'ed program compiled by
// torch._inductor.aoti_compile_and_package; scripts/export-model makes them) loaded once through
// LibTorch's AOTIModelPackageLoader, run on batches. Compiled only where LibTorch has AOTInductor
// (VIDINFER_HAVE_AOTI, see src/CMakeLists.txt); load_model() picks it by the file (model_format.h).
//
// A package is compiled code for one device type (cuda or cpu), one dtype and one range of batch
// sizes, and it does not check its inputs at run time: so the dtype and the range must be known
// before it runs, from its metadata (scripts/export-model's `vidinfer.*` keys) or its sidecar
// (`dtype`, `batch_range`), and the model refuses to load without them. A batch smaller than the
// range's minimum (a partial last batch; every batch of a package compiled for one batch size) is
// padded with zero frames up to it, and the outputs whose first dimension is that padded batch are
// cut back to the frames given. Outputs: one tensor as is; several (the package's outputs,
// flattened) as a tuple, which is what the task heads take: (boxes, scores, labels), (boxes,
// scores), (heatmap, box map).
//
// Loading a package runs its code (it holds a compiled shared library), as loading TorchScript runs
// the module's code: load only models you trust. Owns the loader; forward() may be called from one
// thread at a time.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "infer/model.h"

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace vidinfer {

class AotiModel : public Model {
 public:
  // Throws vidinfer::Error "cannot load model" naming `path`: not a package; compiled for the other
  // device type; no dtype or batch range known; the loader's own failure (first line). Throws
  // "model does not run in D" when `dtype` is not the package's. On the CPU, LibTorch's threads are
  // set as for TorchScript (`cpu_threads`, 0: cpu_threads_available()).
  AotiModel(const std::string& path, torch::Device device, DType dtype, int cpu_threads = 0);
  ~AotiModel() override;

  // batch: [B,3,H,W], any device and floating dtype; B up to max_batch(). Errors: vidinfer::Error
  // "model forward failed" with the loader's first line (or a batch over the range).
  torch::jit::IValue forward(const torch::Tensor& batch) override;

  // As TorchScriptModel's: the package's run recorded once as a CUDA graph for batches of `shape`
  // (and, for a package that pads, partial batches padded up to it), replayed by forward().
  bool capture_graphs(const std::vector<int64_t>& shape, std::string* why) override;
  void release_graphs() override;

  int64_t min_batch() const { return min_batch_; }
  int64_t max_batch() const { return max_batch_; }

 private:
  void* stream() const;  // the current CUDA stream of the model's GPU, or null on the CPU

  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
  torch::ScalarType dtype_;
  int64_t min_batch_ = 1;
  int64_t max_batch_ = 1;
  struct Graphs;
  std::shared_ptr<Graphs> graphs_;
};

}  // namespace vidinfer
