// The pipeline: wires the parts of a run together (docs/architecture.md has the picture).
//
//   Scheduler (workers 1..N): JobSource -> run_job: Demuxer -> Decoder -> selection -> preprocess -> slot ─┐
//                                                                                       Batcher -> queue  │
//   run's thread: ModelRunner (Engine's model, head) -> Reorderer -> on_frame / on_input  <───────────────┘
//
// The Engine holds what lives on the device (model, batch tensors, NVDEC sessions, decoder choice);
// the Scheduler, Batcher and Reorderer are device-independent. Ordering on the GPU: a worker's kernel
// writes its slot on its decoder's stream and records its own event for that batch tensor; the
// model's stream waits for the events of every worker that wrote into the batch. A batch tensor goes
// back to the free list only after the model's stream has recorded "done" on it, and a worker's
// stream waits for that before writing into it again (DevicePool).
#include "vidinfer/pipeline.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <variant>

#include "common/cuda.h"
#include "common/timer.h"
#include "demux/input_source.h"
#include "infer/model.h"
#include "infer/model_stream.h"
#include "decode/nvdec_caps.h"
#include "pipeline/annotate_pass.h"
#include "pipeline/batcher.h"
#include "pipeline/device_pool.h"
#include "pipeline/engine.h"
#include "pipeline/extensions.h"
#include "pipeline/job_source.h"
#include "pipeline/model_runner.h"
#include "pipeline/reorderer.h"
#include "pipeline/scheduler.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

constexpr int kMaxStreams = 64;  // workers; a batch records its writers in a 64-bit mask

RunOptions checked(RunOptions o, const Extensions* ext) {
  if (o.streams < 0 || o.streams > kMaxStreams)
    throw Error("invalid --streams " + std::to_string(o.streams), "", "expected 0 (auto) to " + std::to_string(kMaxStreams));
  if (o.segments < 0) throw Error("invalid --segments " + std::to_string(o.segments), "", "expected 0 (auto) or more");
  if (o.spec.batch < 1) throw Error("invalid batch size", "", "must be at least 1");
  if (o.selection.every < 1) throw Error("invalid --every", "", "must be at least 1");
  if (o.skip_preprocess) o.skip_model = true;
  if (ext && ext->on_batch) {
    if (o.segments > 1)
      throw Error("invalid segments " + std::to_string(o.segments), "",
                  "batches are handed out as they are made, so inputs are not split (segments 0 or 1)");
    o.segments = 1;
  }
  if (o.cpu_batch < 0) throw Error("invalid CPU batch size", "", "expected 0 (spec.batch) or more");
  if (o.cpu_batch > 0 && !resolve_device(o.device).is_cuda()) o.spec.batch = o.cpu_batch;
  // Before the model loads and any frame is decoded: a batch or dtype the model says it cannot take.
  if (!o.skip_model && !o.model_path.empty()) check_model_spec(o.spec, o.model_path);
  return o;
}

std::vector<InputSource> sources_of(const std::vector<std::string>& inputs) {
  std::vector<InputSource> v;
  v.reserve(inputs.size());
  for (const auto& i : inputs) v.push_back(InputSource::of(i));
  return v;
}

}  // namespace

struct Pipeline::Impl {
  RunOptions opt;
  torch::Device device;
  bool gpu_path;  // NVDEC + kernels available for this run
  int streams;    // decode jobs at once
  SegmentPolicy segments;
  Engine engine;
  std::atomic<bool> stop{false};       // the workers stop at the next packet
  std::atomic<bool> cancelled{false};  // cancel() was called

  std::shared_ptr<const Extensions> ext;

  Impl(RunOptions o, const std::vector<std::string>& first_inputs, std::shared_ptr<const Extensions> extensions)
      : opt(checked(std::move(o), extensions.get())),
        device(resolve_device(opt.device)),
        gpu_path(device.is_cuda() && cuda::kernels_available() && opt.decoder != DecoderChoice::Cpu),
        streams(auto_streams()),
        segments(opt, streams, gpu_path),
        engine(opt, device, gpu_path, streams, to_prepare(first_inputs), extensions.get()),
        ext(std::move(extensions)) {
    if (opt.decoder == DecoderChoice::Gpu && !gpu_path)
      throw Error("decoder 'gpu' is not available", "",
                  device.is_cuda() ? "this build has no CUDA kernels" : "the model is not on a GPU (--device)");
  }

  // Auto streams: one decoder per NVDEC engine and one more, so that an engine never waits while its
  // thread does CPU work (demux, parse); libavcodec already uses every core for one input.
  int auto_streams() const {
    if (opt.streams > 0) return opt.streams;
    const int engines = gpu_path ? nvdec_engine_count(device.index()) : 0;
    return engines > 0 ? std::min(kMaxStreams, engines + 1) : 1;
  }

  // The first inputs whose NVDEC sessions the engine makes while its model loads: those that may be
  // opened ahead, each with as many sessions as decoders of it will start at once.
  std::vector<NvdecSessionPreparer::Input> to_prepare(const std::vector<std::string>& first_inputs) const {
    if (!gpu_path) return {};
    const std::vector<InputSource> sources = sources_of(first_inputs);
    const std::vector<int> per = segments.sessions_per_input(sources);
    std::vector<NvdecSessionPreparer::Input> v;
    for (size_t i = 0; i < per.size(); ++i)
      if (sources[i].open_ahead()) v.push_back({sources[i].locator(), per[i]});
    return v;
  }
};

Pipeline::Pipeline(RunOptions options, const std::vector<std::string>& first_inputs)
    : impl_(std::make_unique<Impl>(std::move(options), first_inputs, nullptr)) {}

Pipeline::Pipeline(RunOptions options, const std::vector<std::string>& first_inputs,
                   std::shared_ptr<const Extensions> extensions)
    : impl_(std::make_unique<Impl>(std::move(options), first_inputs, std::move(extensions))) {}

Pipeline::~Pipeline() = default;

void Pipeline::cancel() noexcept {
  impl_->cancelled = true;
  impl_->stop = true;
}

const RunOptions& Pipeline::options() const { return impl_->opt; }

std::string Pipeline::device() const { return impl_->device.str(); }

RunSummary Pipeline::run(const std::vector<std::string>& inputs, const FrameCallback& on_frame,
                         const ProgressCallback& on_progress, const InputCallback& on_input) {
  const RunOptions& o = impl_->opt;
  if (o.annotate_video.empty() && o.annotate_frames_dir.empty())
    return run_frames(inputs, on_frame, on_progress, on_input);
  if (o.task != Task::Detect) throw Error("cannot annotate", "", "annotated output is for --task detect");
  if (o.apply_rotation)
    throw Error("cannot annotate", "", "annotated output draws on frames as decoded: not with --apply-rotation");
  if (!o.annotate_video.empty() && inputs.size() > 1 && o.annotate_video.find("{name}") == std::string::npos)
    throw Error("cannot annotate", o.annotate_video,
                std::to_string(inputs.size()) + " inputs need one video each: put {name} in the path");
  // Each input's detections (small) are kept until its last frame is in, then it is annotated, before
  // its input callback: an annotation that fails makes the input failed in what the caller sees.
  std::map<std::string, std::map<int64_t, std::vector<Detection>>> found;
  std::map<std::string, std::string> failures;
  RunSummary summary = run_frames(
      inputs,
      [&](const FrameResult& r) {
        found[r.input][r.frame_index] = r.detections;
        on_frame(r);
      },
      on_progress,
      [&](const InputSummary& done) {
        InputSummary s = done;
        if (s.status == InputStatus::Ok && !impl_->cancelled) {
          AnnotateTarget t;
          t.input = s.input;
          t.video = o.annotate_video;
          if (const auto at = t.video.find("{name}"); at != std::string::npos)
            t.video.replace(at, 6, input_stem(s.input));
          t.frames_dir = o.annotate_frames_dir;
          t.gpu = impl_->device.is_cuda() && s.nvdec;
          t.device = impl_->device.is_cuda() ? impl_->device.index() : 0;
          t.decode_threads = o.decode_threads;
          t.every = o.selection.every;
          try {
            annotate_input(t, found[s.input]);
          } catch (const Error& e) {
            s.status = InputStatus::Failed;
            s.error = e.input().empty() ? e.with_input(s.input).what() : e.what();
            failures[s.input] = s.error;
          }
        }
        found.erase(s.input);
        if (on_input) on_input(s);
      });
  for (auto& s : summary.inputs) {
    if (const auto f = failures.find(s.input); f != failures.end() && s.status == InputStatus::Ok) {
      s.status = InputStatus::Failed;
      s.error = f->second;
    }
  }
  return summary;
}

RunSummary Pipeline::run_frames(const std::vector<std::string>& inputs, const FrameCallback& on_frame,
                                const ProgressCallback& on_progress, const InputCallback& on_input) {
  Impl& m = *impl_;
  const RunOptions& opt = m.opt;
  RunSummary summary;
  summary.device = device();
  summary.model = opt.model_path;
  summary.inputs.resize(inputs.size());
  const auto t0 = std::chrono::steady_clock::now();
  m.stop = m.cancelled.load();
  m.engine.wait_prepared();

  // The device batch tensors (the engine's, shared by its runs) and this run's events.
  DevicePool pool(m.engine.batch_tensors(), m.streams);
  const auto host_tensor = [&] {
    auto t = torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width}, torch::kFloat);
    return m.device.is_cuda() ? t.pin_memory() : t;
  };
  BoundedQueue<Item> queue(kBatchQueueDepth);
  Batcher batcher(queue, &pool, opt.spec.batch, m.streams, host_tensor);
  const std::vector<InputSource> sources = sources_of(inputs);
  JobSource jobs(m.segments, sources, m.stop);
  const JobContext ctx{opt, m.engine.decoders(), batcher, pool, m.stop, m.cancelled, t0};
  Scheduler scheduler(m.streams, jobs, sources, ctx);
  Reorderer reorder(opt, inputs, summary, on_frame, on_progress, on_input, m.stop, m.cancelled);

  // The model runs here, one step behind on the host (ModelRunner); results are routed in the order
  // the batches came.
  ModelStream model_stream(m.device, 0, opt.tuning.stream_priority);  // this thread's LibTorch work goes on its own stream
  ModelRunner runner(m.engine, opt, pool, m.streams, inputs, model_stream.handle());
  double waited = 0;
  uint64_t next_seq = 0;
  std::deque<std::variant<JobDone, uint64_t>> pending;  // in queue order: completions and batches in flight
  // Handles the oldest pending item if it is ready: a completion, or a batch the runner has finished.
  const auto settle_front = [&]() -> bool {
    if (pending.empty()) return false;
    if (auto* d = std::get_if<JobDone>(&pending.front())) {
      reorder.job_done(*d);
      pending.pop_front();
      return true;
    }
    auto c = runner.take(std::get<uint64_t>(pending.front()));
    if (!c) return false;
    reorder.commit(*c);
    pending.pop_front();
    return true;
  };
  // Should anything here throw, the workers must not wait for ever on a full queue or a busy pool.
  struct Unblock {
    std::atomic<bool>& stop;
    BoundedQueue<Item>& queue;
    DevicePool& pool;
    int exceptions = std::uncaught_exceptions();
    ~Unblock() {
      if (std::uncaught_exceptions() == exceptions) return;
      stop = true;
      queue.close();
      pool.free.close();
    }
  } unblock{m.stop, queue, pool};
  while (true) {
    while (settle_front()) {
    }
    const auto t_wait = std::chrono::steady_clock::now();
    auto item = queue.pop();
    waited += seconds_since(t_wait);
    if (!item) break;
    if (auto* d = std::get_if<JobDone>(&*item)) {
      pending.emplace_back(std::move(*d));
      continue;
    }
    Batch& b = std::get<Batch>(*item);
    reorder.expect(b);
    const uint64_t seq = next_seq++;
    pending.emplace_back(seq);
    runner.submit(seq, std::move(b), !reorder.model_failed());
  }
  runner.flush();
  while (settle_front()) {
  }
  runner.print_trace(waited);
  summary.seconds = seconds_since(t0);  // all results delivered; teardown below is not counted
  scheduler.join();
  const StageTimes st = scheduler.stage_times();
  summary.stages.demux = st.demux;
  summary.stages.decode = st.decode;
  summary.stages.preprocess = st.preprocess;
  const double t_joined = seconds_since(t0);
  scheduler.close_decoders();
  if (opt.tuning.trace > 0)
    std::fprintf(stderr, "vidinfer trace: run: %zu input(s) on %d stream(s): results delivered %.1f ms, workers "
                 "joined %.1f ms, decoders closed %.1f ms\n", inputs.size(), m.streams, summary.seconds * 1e3,
                 t_joined * 1e3, seconds_since(t0) * 1e3);
  reorder.finish_rest();
  summary.fps = summary.seconds > 0 ? summary.frames / summary.seconds : 0;
  summary.interrupted = m.cancelled;
  return summary;
}

}  // namespace vidinfer
