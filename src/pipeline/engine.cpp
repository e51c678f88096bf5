#include "pipeline/engine.h"

#include <chrono>
#include <cstdio>

#include "common/cuda.h"
#include "common/timer.h"
#include "infer/output_checks.h"
#include "postprocess/heads.h"
#include "preprocess/geometry.h"

namespace vidinfer {
namespace {

std::unique_ptr<Model> model_for(const RunOptions& opt, torch::Device device, const Extensions* ext) {
  if (ext && ext->make_model) return ext->make_model(device);
  if (opt.skip_model && opt.model_path.empty()) return nullptr;  // decode + preprocess, no model named
  return load_model(opt.model_path, device, opt.spec.dtype, opt.cpu_threads);
}

std::optional<NvdecSessionKeeper> keeper_for(const RunOptions& opt, bool gpu_path) {
  if (!gpu_path) return std::nullopt;
  return std::make_optional<NvdecSessionKeeper>(opt.tuning.nvdec_reuse, opt.tuning.nvdec_serial_create);
}

}  // namespace

Engine::Engine(const RunOptions& opt, torch::Device device, bool gpu_path, int streams,
               std::vector<NvdecSessionPreparer::Input> prepare, const Extensions* ext)
    : opt_(opt),
      device_(device),
      decoders_(opt, device.is_cuda() ? device.index() : 0, gpu_path),
      nvdec_sessions_(keeper_for(opt, gpu_path)),
      preparing_(gpu_path && opt.tuning.nvdec_prepare && !prepare.empty()
                     ? NvdecSessionPreparer(std::move(prepare),
                                            [this](const StreamInfo& st) {
                                              std::string note;
                                              return decoders_.nvdec_options(st, note);
                                            },
                                            opt.tuning.trace > 0)
                     : NvdecSessionPreparer()),
      ext_(ext),
      model_(model_for(opt, device, ext)) {
  // (+1: the batch whose head waits for the next forward, see ModelRunner)
  const int pool_size = static_cast<int>(kBatchQueueDepth) + 3 + (streams > 1 ? 2 : 0);
  if (device_.is_cuda() && model_) warm_up();
  if (gpu_path)
    for (int i = 0; i < pool_size; ++i)
      pool_tensors_.push_back(torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width},
                                           torch::TensorOptions().device(device_).dtype(to_scalar_type(opt.spec.dtype))));
}

// TorchScript's profiling executor optimises a graph over its first runs, and CUDA libraries load
// their kernels on first use: on a GPU that takes up to a second. Done here, at load time, so that
// the first batches of the run don't stall the pipeline. A model that fails here fails again, with
// its error reported per input, in the run.
void Engine::warm_up() {
  try {
    auto x = torch::zeros({opt_.spec.batch, 3, opt_.spec.height, opt_.spec.width},
                          torch::TensorOptions().device(device_).dtype(to_scalar_type(opt_.spec.dtype)));
    torch::jit::IValue out;
    for (int i = 0; i < 3; ++i) out = model_->forward(x);
    // The checks and the head too: their kernels load on first use as well (CUDA loads modules
    // lazily), and the pinned buffers their copies go through are allocated then. Without this
    // the first batch of a run waited about 150 ms for them (H200, the bundled CenterNet).
    if (!opt_.skip_model) {
      std::vector<const char*> bad(static_cast<size_t>(opt_.spec.batch), nullptr);
      non_finite_rows(out, opt_.spec.batch, bad);
      std::vector<Slot> slots(static_cast<size_t>(opt_.spec.batch));
      for (auto& s : slots) s.geometry = plan_geometry(opt_.spec.width, opt_.spec.height, opt_.spec);
      postprocess(out, slots, {std::string("warm-up")});
      // Then the forward of a full batch as a CUDA graph (Model::capture_graphs says why).
      const auto t0 = std::chrono::steady_clock::now();
      std::string why = "Tuning::cuda_graph is off (VIDINFER_CUDA_GRAPH=0)";
      const bool graphs =
          opt_.tuning.cuda_graph && model_->capture_graphs({opt_.spec.batch, 3, opt_.spec.height, opt_.spec.width}, &why);
      if (opt_.tuning.trace > 0)
        std::fprintf(stderr, "vidinfer trace: model: %s (%.1f ms)\n",
                     graphs ? "forward recorded as CUDA graphs" : ("forward not recorded as CUDA graphs: " + why).c_str(),
                     seconds_since(t0) * 1e3);
    }
    const cuda::Event ev = cuda::Event::make();
    ev.record(0);
    ev.synchronize();
  } catch (const std::exception&) {
  }
}

std::vector<FrameResult> Engine::postprocess(const torch::jit::IValue& out, const std::vector<Slot>& slots,
                                             const std::vector<std::string>& inputs) const {
  const int n = static_cast<int>(slots.size());
  std::vector<FrameResult> results(n);
  for (int k = 0; k < n; ++k) {
    results[k].input = inputs[slots[k].input];
    results[k].frame_index = slots[k].frame_index;
    results[k].pts = slots[k].pts;
    results[k].width = slots[k].geometry.src_w;
    results[k].height = slots[k].geometry.src_h;
  }
  if (opt_.task == Task::Classify) {
    auto per = classify_head(out, n, classify_params(opt_), opt_.labels);
    for (int k = 0; k < n; ++k) results[k].classes = std::move(per[k]);
  } else {
    std::vector<Geometry> geos;
    for (const auto& s : slots) geos.push_back(s.geometry);
    auto per = detect_head(out, geos, detect_params(opt_), opt_.labels);
    for (int k = 0; k < n; ++k) results[k].detections = std::move(per[k]);
  }
  return results;
}

}  // namespace vidinfer
