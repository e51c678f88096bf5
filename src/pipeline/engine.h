// The Engine: everything of a run that lives on one device. The model (loaded, warmed up, its full
// batches' forward recorded as a CUDA graph), the device batch tensors the decoders' kernels write
// into, the NVDEC sessions (kept between inputs, and the first ones made while the model loads), the
// decoder choice for that device, and the task head. A run on several GPUs would hold one per GPU,
// fed by one Scheduler; today a Pipeline holds one. Made once per Pipeline and reused by its runs.
// Not thread-safe, but for decoders(), which the workers share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "decode/decoder.h"
#include "decode/nvdec_prepare.h"
#include "infer/model.h"
#include "pipeline/decoder_choice.h"
#include "pipeline/extensions.h"
#include "pipeline/work.h"
#include "vidinfer/options.h"

namespace vidinfer {

// Full batches that may wait between the batcher and the model (back-pressure, no drops).
constexpr size_t kBatchQueueDepth = 2;

class Engine {
 public:
  // Loads the model onto `device` (throws vidinfer::Error). gpu_path: decode with NVDEC and
  // preprocess with the kernels into device batches. streams: the decode workers the runs will
  // have (sizes the batch pool). prepare: the first inputs whose NVDEC sessions to make while the
  // model loads (empty: none; see NvdecSessionPreparer). ext: a binding's additions (may be null;
  // outlives the engine): its make_model replaces loading opt.model_path. With no model to load
  // (opt.skip_model and no model_path), the engine has none: model() is not to be called.
  Engine(const RunOptions& opt, torch::Device device, bool gpu_path, int streams,
         std::vector<NvdecSessionPreparer::Input> prepare, const Extensions* ext = nullptr);

  torch::Device device() const { return device_; }
  bool gpu_path() const { return decoders_.gpu_path(); }
  Model& model() { return *model_; }
  bool has_model() const { return model_ != nullptr; }
  const Extensions* extensions() const { return ext_; }
  const DecoderChoiceFor& decoders() const { return decoders_; }
  // The device batch tensors, [batch, 3, H, W] in the model's dtype (empty off the GPU path).
  const std::vector<torch::Tensor>& batch_tensors() const { return pool_tensors_; }
  // Waits for the sessions made while the model loaded (the start of a run).
  void wait_prepared() { preparing_.wait(); }

  // The task head's results for a batch's output (rows = slots; inputs: the run's input names).
  std::vector<FrameResult> postprocess(const torch::jit::IValue& out, const std::vector<Slot>& slots,
                                       const std::vector<std::string>& inputs) const;

 private:
  void warm_up();

  const RunOptions& opt_;
  torch::Device device_;
  DecoderChoiceFor decoders_;
  // NVDEC sessions are kept between the jobs (inputs, segments) of this engine's runs, and destroyed
  // with it (see NvdecSessionKeeper); declared before the preparer, which leaves its sessions there.
  std::optional<NvdecSessionKeeper> nvdec_sessions_;
  // Declared before the model so that it starts first; joined before the keeper goes.
  NvdecSessionPreparer preparing_;
  const Extensions* ext_;
  std::unique_ptr<Model> model_;
  std::vector<torch::Tensor> pool_tensors_;
};

}  // namespace vidinfer
