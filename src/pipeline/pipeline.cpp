// The pipeline: wires the parts of a run together (docs/architecture.md has the picture).
//
//   Scheduler (workers 1..N): JobSource -> run_job: Demuxer -> Decoder -> selection -> preprocess -> slot ─┐
//                                                                                       Batcher -> queue  │
//   run's thread: ModelRunner (Engine's model, head) -> Reorderer -> on_frame / on_input  <───────────────┘
//
// The Engine holds what lives on the device (model, batch tensors, NVDEC sessions, decoder choice);
// the Scheduler, Batcher and Reorderer are device-independent. A lane (lane.h) is one engine's
// Scheduler + Batcher + ModelRunner; a run on several devices has one lane per engine on its own
// thread, all taking jobs from one JobSource and committing to one Reorderer. Ordering on the GPU: a worker's kernel
// writes its slot on its decoder's stream and records its own event for that batch tensor; the
// model's stream waits for the events of every worker that wrote into the batch. A batch tensor goes
// back to the free list only after the model's stream has recorded "done" on it, and a worker's
// stream waits for that before writing into it again (DevicePool).
#include "vidinfer/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
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
#include "pipeline/devices.h"
#include "pipeline/job_source.h"
#include "pipeline/lane.h"
#include "pipeline/reorderer.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

constexpr int kMaxStreams = 64;  // --streams; live inputs add a worker each, up to kMaxWorkers a lane

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
  if (o.live.duration < 0) throw Error("invalid --duration", "", "expected seconds, 0 (no limit) or more");
  if (o.live.stall_timeout < 0) throw Error("invalid --stall-timeout", "", "expected seconds, 0 (wait for ever) or more");
  if (o.live.max_batch_wait < 0) throw Error("invalid --max-batch-wait", "", "expected seconds, 0 or more");
  if (!(o.live.max_lag >= 0)) throw Error("invalid --max-lag", "", "expected seconds, 0 (never skip) or more");
  if (!(o.live.pace_stagger >= 0)) throw Error("invalid --pace-stagger", "", "expected seconds, 0 or more");
  if (o.live.reconnect < -1) throw Error("invalid --reconnect", "", "expected attempts, 0 (never) or -1 (for ever)");
  if (o.live.rtsp_transport != "tcp" && o.live.rtsp_transport != "udp")
    throw Error("invalid --rtsp-transport '" + o.live.rtsp_transport + "'", "", "expected tcp or udp");
  if (o.cpu_batch > 0 && !run_devices(o).front().is_cuda()) o.spec.batch = o.cpu_batch;
  // Before the model loads and any frame is decoded: a batch or dtype the model says it cannot take.
  if (!o.skip_model && !o.model_path.empty()) check_model_spec(o.spec, o.model_path);
  return o;
}

std::vector<InputSource> sources_of(const std::vector<std::string>& inputs, bool pace_files) {
  std::vector<InputSource> v;
  v.reserve(inputs.size());
  for (const auto& i : inputs) v.push_back(InputSource::of(i, pace_files));
  return v;
}

}  // namespace

struct Pipeline::Impl {
  RunOptions opt;
  std::vector<torch::Device> devices;  // one per engine
  torch::Device device;                // the first (where a single-device decision is needed)
  bool gpu_path;  // NVDEC + kernels available for this run
  std::vector<int> streams;  // decode jobs at once, per engine
  SegmentPolicy segments;
  std::vector<std::unique_ptr<Engine>> engines;
  std::atomic<bool> stop{false};       // the workers stop at the next packet
  std::atomic<bool> cancelled{false};  // cancel() was called

  std::shared_ptr<const Extensions> ext;

  Impl(RunOptions o, const std::vector<std::string>& first_inputs, std::shared_ptr<const Extensions> extensions)
      : opt(checked(std::move(o), extensions.get())),
        devices(run_devices(opt)),
        device(devices.front()),
        gpu_path(device.is_cuda() && cuda::kernels_available() && opt.decoder != DecoderChoice::Cpu),
        streams(auto_streams()),
        segments(opt, total_streams(), gpu_path),
        ext(std::move(extensions)) {
    if (opt.decoder == DecoderChoice::Gpu && !gpu_path)
      throw Error("decoder 'gpu' is not available", "",
                  device.is_cuda() ? "this build has no CUDA kernels" : "the model is not on a GPU (--device)");
    if (devices.size() > 1 && ext && ext->make_model)
      throw Error("invalid devices", "", "a Python callable model runs on one device: give a model file for several");
    const auto prepare = to_prepare(first_inputs);
    for (size_t e = 0; e < devices.size(); ++e) {
      // Engine e makes the sessions of every devices.size()-th of the first inputs: the workers of all
      // engines start at once and take the inputs in order.
      std::vector<NvdecSessionPreparer::Input> mine;
      for (size_t k = e; k < prepare.size(); k += devices.size()) mine.push_back(prepare[k]);
      ModelStream on_device(devices[e]);  // the engine's CUDA work made on its own device
      engines.push_back(std::make_unique<Engine>(opt, devices[e], gpu_path, streams[e], std::move(mine), ext.get()));
    }
  }

  // Auto streams: one decoder per NVDEC engine and one more, so that an engine never waits while its
  // thread does CPU work (demux, parse); libavcodec already uses every core for one input.
  std::vector<int> auto_streams() const {
    std::vector<int> v;
    for (const auto& d : devices) {
      if (opt.streams > 0) {
        v.push_back(opt.streams);
        continue;
      }
      const int engines = gpu_path ? nvdec_engine_count(d.index()) : 0;
      v.push_back(engines > 0 ? std::min(kMaxStreams, engines + 1) : 1);
    }
    return v;
  }
  int total_streams() const {
    int n = 0;
    for (int s : streams) n += s;
    return n;
  }

  // The first inputs whose NVDEC sessions the engines make while their models load: those that may be
  // opened ahead, each with as many sessions as decoders of it will start at once. Live inputs all
  // start at once, each on a worker of its own: every paced file is prepared, not only the first
  // `streams`. (The driver makes one session at a time, 45-90 ms each. When paced cameras made their
  // own in the run, ~55 ms apart on an H100, the last ones' first frames were 5.6 s late at 100
  // cameras and 11.9 s at 140: docs/live.md.)
  std::vector<NvdecSessionPreparer::Input> to_prepare(const std::vector<std::string>& first_inputs) const {
    if (!gpu_path) return {};
    const std::vector<InputSource> sources = sources_of(first_inputs, opt.live.pace_files);
    const std::vector<int> per = segments.sessions_per_input(sources);
    std::vector<NvdecSessionPreparer::Input> v;
    for (size_t i = 0; i < sources.size(); ++i) {
      const int n = i < per.size() ? per[i] : sources[i].live() ? 1 : 0;
      if (n > 0 && sources[i].open_ahead()) v.push_back({sources[i].locator(), n});
    }
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

std::string Pipeline::device() const { return devices_name(impl_->devices); }

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
  for (auto& e : m.engines) e->wait_prepared();

  const std::vector<InputSource> sources = sources_of(inputs, opt.live.pace_files);
  // A live input holds a decode worker for as long as it runs: each lane gets one more worker per
  // live input it may take, beside its streams for the rest.
  const size_t n_live = static_cast<size_t>(std::count_if(sources.begin(), sources.end(), [](const InputSource& s) { return s.live(); }));
  std::vector<int> workers = m.streams;
  for (int& w : workers) {
    const size_t want = static_cast<size_t>(w) + (n_live + m.engines.size() - 1) / m.engines.size();
    if (want > static_cast<size_t>(kMaxWorkers))
      throw Error("too many live inputs", "",
                  std::to_string(n_live) + " for " + std::to_string(m.engines.size()) + " device(s); at most " +
                      std::to_string(kMaxWorkers - w) + " per device");
    w = static_cast<int>(want);
  }
  JobSource jobs(m.segments, sources, m.stop);
  Reorderer reorder(opt, inputs, summary, on_frame, on_progress, on_input, m.stop, m.cancelled);
  std::mutex reorder_mu;
  const LaneShared shared{opt, jobs, sources, inputs, reorder, reorder_mu, m.stop, m.cancelled, t0,
                          m.engines.size() > 1};
  // One lane per engine: the first on this thread, the others on their own.
  const size_t n = m.engines.size();
  std::vector<LaneResult> results(n);
  std::vector<std::exception_ptr> errors(n);
  const auto lane = [&](size_t e) {
    try {
      results[e] = run_lane(*m.engines[e], workers[e], shared);
    } catch (...) {
      errors[e] = std::current_exception();
      m.stop = true;  // the other lanes end soon; the error is thrown below
    }
  };
  std::vector<std::thread> threads;
  for (size_t e = 1; e < n; ++e) threads.emplace_back(lane, e);
  lane(0);
  for (auto& t : threads) t.join();
  for (const auto& err : errors)
    if (err) std::rethrow_exception(err);

  for (size_t e = 0; e < n; ++e) {
    const LaneResult& r = results[e];
    summary.seconds = std::max(summary.seconds, r.results_s);
    summary.stages.demux += r.stages.demux;
    summary.stages.decode += r.stages.decode;
    summary.stages.preprocess += r.stages.preprocess;
    if (n > 1)
      summary.devices.push_back({m.devices[e].str(), r.frames, r.results_s, r.results_s > 0 ? r.frames / r.results_s : 0});
  }
  reorder.finish_rest();
  summary.fps = summary.seconds > 0 ? summary.frames / summary.seconds : 0;
  summary.interrupted = m.cancelled;
  return summary;
}

}  // namespace vidinfer
