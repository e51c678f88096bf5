// The pipeline. Up to `streams` worker threads each take a job (an input, or a keyframe-aligned
// segment of one), demux, decode (NVDEC or libavcodec) and preprocess its frames (CUDA kernel into a
// device batch, or swscale into a host batch) into slots of the batch being filled; one batcher fills
// model batches across all jobs, each slot carrying its provenance (input, segment, frame, pts).
// The calling thread runs the model and the task head, puts each input's results back in frame order
// (segments finish out of order) and hands them to the callbacks. A bounded queue between the
// batcher and the model keeps at most kQueueDepth full batches waiting: back-pressure, no drops.
//
//   worker 1..N: Demuxer -> Decoder -> selection -> preprocess -> slot ─┐
//                                                                      │ Batcher -> BoundedQueue<Item>
//   caller:     Model::forward -> classify_head / detect_head -> re-order -> on_frame <──┘
//
// Ordering on the GPU: a worker's kernel writes its slot on its decoder's stream and records its own
// event for that batch tensor; the model's stream waits for the events of every worker that wrote
// into the batch. A batch tensor goes back to the free list only after the model's stream has
// recorded "done" on it, and a worker's stream waits for that before writing into it again.
#include "vidinfer/pipeline.h"

#include <atomic>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <limits>
#include <utility>
#include <variant>

#include "common/timer.h"
#include "decode/decoder.h"
#include "decode/nvdec_caps.h"
#include "demux/demuxer.h"
#include "infer/model.h"
#include "infer/model_stream.h"
#include "infer/model_trace.h"
#include "pipeline/annotate_pass.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/segments.h"
#include "postprocess/heads.h"
#include "preprocess/cpu_preprocessor.h"
#include "preprocess/gpu_preprocessor.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

constexpr size_t kQueueDepth = 2;
constexpr int kMaxStreams = 64;              // workers; a batch records its writers in a 64-bit mask
constexpr double kMinSegmentSeconds = 4.0;   // shorter segments cost more in decoder start-up than they gain
constexpr double kMaxSegmentSeconds = 120.0; // longer ones hold more results back for re-ordering

// What a job decodes: a whole input, or the frames of one segment of it. Segment k starts at the
// keyframe whose index timestamp is start_key and owns the frames whose presentation time is at or
// after that keyframe's and before the next segment's keyframe's.
struct Job {
  size_t input = 0;
  int segment = 0, segments = 1;
  int64_t start_key = AV_NOPTS_VALUE;  // none: from the start of the input
  int64_t end_key = AV_NOPTS_VALUE;    // none: to its end
};

struct Slot {
  size_t input = 0;
  int segment = 0;
  int64_t frame_index = 0;  // within the job's frames (the whole input's index when not segmented)
  double pts = 0;
  Geometry geometry;
  double expected_frames = 0;  // of the input (for progress); 0 if unknown
  bool valid = true;           // false: the slot's write failed; its row is ignored
};

struct Batch {
  // [capacity, 3, H, W]: float32 in (pinned) host memory from the CPU path, or a tensor of the
  // device pool, already in the model's dtype, from the GPU path. The first slots.size() are used.
  torch::Tensor data;
  int pool_index = -1;  // >= 0: device batch, ready once every writer's event has passed
  std::vector<Slot> slots;
  uint64_t writers = 0;  // device batch: the workers whose events to wait for
};

// Sent once per job, after every batch holding its frames.
struct JobDone {
  Job job;
  InputSummary summary;
  int64_t selected = 0;  // frames selected (what decode-only runs count)
  bool halted = false;   // cut short because the run was stopping
  double t_start = 0, t_end = 0;  // seconds since the run started
};

using Item = std::variant<Batch, JobDone>;

// Marks, per row (frame) of a batch of `n`, whether the model's output for it holds a NaN or an
// infinity: rows[r] becomes "NaN" or "Inf" (the first found). Walks tensors inside tuples, lists and
// dicts; a tensor whose first dimension is not the batch marks every row; a list of `n` per-image
// results (torchvision style) marks the row by its position.
void non_finite_rows_of(const torch::jit::IValue& v, int n, std::vector<const char*>& rows) {
  if (v.isTensor()) {
    const torch::Tensor& t = v.toTensor();
    if (!t.is_floating_point() || t.numel() == 0) return;
    const torch::Tensor bad = ~torch::isfinite(t);
    if (!bad.any().item<bool>()) return;
    const torch::Tensor nan = torch::isnan(t);
    if (t.dim() >= 1 && t.size(0) == n) {
      const torch::Tensor b = bad.reshape({n, -1}).any(1).cpu(), na = nan.reshape({n, -1}).any(1).cpu();
      const auto ba = b.accessor<bool, 1>(), nn = na.accessor<bool, 1>();
      for (int r = 0; r < n; ++r)
        if (ba[r] && !rows[r]) rows[r] = nn[r] ? "NaN" : "Inf";
    } else {
      const char* kind = nan.any().item<bool>() ? "NaN" : "Inf";
      for (auto& r : rows)
        if (!r) r = kind;
    }
    return;
  }
  std::vector<torch::jit::IValue> items;
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) items.push_back(e);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) items.push_back(e);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) items.push_back(e.value());
  }
  const bool per_image = v.isList() && static_cast<int>(items.size()) == n;
  for (size_t i = 0; i < items.size(); ++i) {
    if (per_image && !items[i].isTensor()) {
      std::vector<const char*> sub(n, nullptr);
      non_finite_rows_of(items[i], n, sub);
      for (const char* k : sub)
        if (k && !rows[i]) rows[i] = k;
    } else {
      non_finite_rows_of(items[i], n, rows);
    }
  }
}

// The floating-point tensors of a model output, wherever they are in it.
void float_tensors(const torch::jit::IValue& v, std::vector<torch::Tensor>& out) {
  if (v.isTensor()) {
    if (v.toTensor().is_floating_point() && v.toTensor().numel() > 0) out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) float_tensors(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) float_tensors(e, out);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) float_tensors(e.value(), out);
  }
}

void non_finite_rows(const torch::jit::IValue& v, int n, std::vector<const char*>& rows) {
  // First, one pass over each tensor and one copy to the host for the whole output: a tensor's
  // minimum and maximum are both finite exactly when all its elements are (a NaN makes them NaN,
  // an infinity shows in one of them). isfinite + any wrote a mask as large as the output and read
  // it back, per tensor, with a host round trip each: on a detector's 64 x 80 x 128 x 128 heatmap
  // that was a millisecond of GPU time per batch beside the next forward. Only an output that is
  // not finite is walked row by row, to name the rows.
  std::vector<torch::Tensor> ts;
  float_tensors(v, ts);
  if (ts.empty()) return;
  std::vector<torch::Tensor> ends;
  for (const auto& t : ts) {
    auto [lo, hi] = torch::aminmax(t.is_cuda() ? t : t.to(torch::kFloat));
    ends.push_back(lo.to(torch::kFloat).reshape({1}));
    ends.push_back(hi.to(torch::kFloat).reshape({1}));
  }
  const torch::Tensor host = torch::cat(ends).cpu();
  const auto h = host.accessor<float, 1>();
  bool finite = true;
  for (int64_t i = 0; i < h.size(0); ++i) finite = finite && std::isfinite(h[i]);
  if (!finite) non_finite_rows_of(v, n, rows);
}

void cuda_check(const char* err, const char* what) {
  if (*err) throw Error(what, "", err);
}

// The device batch tensors and their events, for one run. `done[p]` is recorded by the model's
// stream when it has read tensor p; `written[w][p]` by worker w after its last write into p.
struct DevicePool {
  std::vector<torch::Tensor> tensors;
  std::vector<uintptr_t> done;
  std::vector<std::vector<uintptr_t>> written;
  BoundedQueue<int> free;
  explicit DevicePool(size_t n) : free(n) {}
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
  ~DevicePool() {
    for (auto e : done) cuda::event_destroy(e);
    for (auto& w : written)
      for (auto e : w) cuda::event_destroy(e);
  }
};

// Fills batches from the slots of many jobs at once and hands them, in the order they were started,
// to the queue; a job's completion goes into the queue after every batch that holds its frames.
// Two lanes: device batches (NVDEC-decoded frames) and host batches (libavcodec-decoded frames).
class Batcher {
 public:
  enum Lane { kDevice = 0, kHost = 1, kNone = 2 };
  struct Open {
    Batch batch;
    int claimed = 0, committed = 0;
    bool sealed = false;      // no more claims: full, or flushed at the end
    uint64_t seq = 0;         // order of creation within its lane
    std::vector<Item> after;  // job completions to deliver right after this batch
  };
  struct Claim {
    Open* open = nullptr;
    int k = 0;
  };

  Batcher(BoundedQueue<Item>& queue, DevicePool* pool, int capacity, int workers, std::function<torch::Tensor()> host_tensor)
      : queue_(queue), pool_(pool), capacity_(capacity), workers_(workers), active_(workers), host_tensor_(std::move(host_tensor)) {}

  // A slot of the lane's batch being filled; blocks while every device tensor is in use.
  Claim claim(Lane lane) {
    std::unique_lock lock(mu_);
    auto& open = open_[lane];
    while (true) {
      if (!open.empty() && !open.back()->sealed) {
        Open* o = open.back().get();
        const int k = o->claimed++;
        if (o->claimed == capacity_) o->sealed = true;
        return {o, k};
      }
      lock.unlock();
      auto fresh = std::make_unique<Open>();
      if (lane == kDevice) {
        auto p = pool_->free.pop();
        if (!p) throw Error("pipeline stopped");
        fresh->batch.pool_index = *p;
        fresh->batch.data = pool_->tensors[*p];
      } else {
        fresh->batch.data = host_tensor_();
      }
      fresh->batch.slots.resize(capacity_);
      lock.lock();
      if (!open.empty() && !open.back()->sealed) {  // another worker started one meanwhile
        if (lane == kDevice) pool_->free.push(fresh->batch.pool_index);
        continue;
      }
      fresh->seq = ++created_[lane];
      open.push_back(std::move(fresh));
    }
  }

  // Sends the lane's batches now, however full, and returns once they are in the queue: whatever the
  // caller commits to another lane afterwards reaches the consumer after them.
  void flush(Lane lane) {
    {
      std::unique_lock lock(mu_);
      auto& open = open_[lane];
      if (open.empty()) return;
      const uint64_t last = open.back()->seq;
      for (auto& o : open) o->sealed = true;
      release_ready(lane);
      released_cv_.wait(lock, [&] { return released_[lane] >= last; });
    }
    drain();
  }

  // The slot's content is written (device: the kernel is queued and the worker's event recorded).
  void commit(Lane lane, const Claim& c, const Slot& slot, int worker) {
    {
      std::lock_guard lock(mu_);
      c.open->batch.slots[c.k] = slot;
      if (lane == kDevice) c.open->batch.writers |= uint64_t{1} << worker;
      ++c.open->committed;
      release_ready(lane);
    }
    drain();
  }

  // A job is over; `lane` is where its frames went (kNone: it produced none). With one worker the
  // job's partly filled batch is sent now, as a batch then never mixes inputs and results come out
  // exactly as one input after another would give them; with several, it fills up with other jobs'
  // frames.
  void job_done(Lane lane, JobDone d) {
    {
      std::lock_guard lock(mu_);
      if (active_ == 1 && workers_ == 1)
        for (int l : {kDevice, kHost}) {
          for (auto& o : open_[l]) o->sealed = true;
          release_ready(static_cast<Lane>(l));
        }
      auto& open = open_[lane == kNone ? kDevice : lane];
      Open* last = nullptr;
      if (lane != kNone && !open.empty()) last = open.back().get();
      if (last) {
        last->after.emplace_back(std::move(d));
      } else {
        outbox_.emplace_back(std::move(d));
      }
    }
    drain();
  }

  // A worker has no more jobs; the last one out sends the partly filled batches and closes the queue.
  void worker_exit() {
    bool last;
    {
      std::lock_guard lock(mu_);
      last = --active_ == 0;
      if (last)
        for (int lane : {kDevice, kHost}) {
          for (auto& o : open_[lane]) o->sealed = true;
          release_ready(static_cast<Lane>(lane));
        }
    }
    drain();
    if (last) queue_.close();
  }

 private:
  // Under mu_: moves the lane's leading batches that are sealed and fully written to the outbox.
  void release_ready(Lane lane) {
    auto& open = open_[lane];
    while (!open.empty() && open.front()->sealed && open.front()->committed == open.front()->claimed) {
      Open& o = *open.front();
      if (o.claimed == 0) {
        if (lane == kDevice) pool_->free.push(o.batch.pool_index);
      } else {
        o.batch.slots.resize(o.claimed);
        outbox_.emplace_back(std::move(o.batch));
      }
      for (auto& a : o.after) outbox_.push_back(std::move(a));
      released_[lane] = o.seq;
      open.pop_front();
      released_cv_.notify_all();
    }
  }

  // Pushes the outbox to the queue in order (blocking while the queue is full), outside mu_ so that
  // other workers keep committing meanwhile.
  void drain() {
    std::lock_guard push_lock(push_mu_);
    std::deque<Item> items;
    {
      std::lock_guard lock(mu_);
      items.swap(outbox_);
    }
    for (auto& it : items) queue_.push(std::move(it));
  }

  BoundedQueue<Item>& queue_;
  DevicePool* pool_;
  const int capacity_;
  const int workers_;
  int active_;
  std::function<torch::Tensor()> host_tensor_;
  uint64_t created_[2] = {0, 0}, released_[2] = {0, 0};  // per lane: Open::seq of the last made / sent
  std::condition_variable released_cv_;
  std::mutex mu_, push_mu_;
  std::deque<std::unique_ptr<Open>> open_[2];
  std::deque<Item> outbox_;
};

}  // namespace

struct Pipeline::Impl {
  RunOptions opt;
  torch::Device device;
  bool gpu_path;  // NVDEC + kernels available for this run
  // NVDEC sessions are kept between the jobs (inputs, segments) of this pipeline's runs, and
  // destroyed with it (see NvdecSessionKeeper).
  std::optional<NvdecSessionKeeper> nvdec_sessions;
  int streams;    // decode jobs at once
  // Creates the first run's NVDEC sessions while the model loads (see prepare_sessions); declared
  // before the model so that it starts first, and after the keeper so that it is joined before the
  // keeper goes. run() waits for it.
  double prepare_t0 = 0;  // seconds on the steady clock when preparing started
  std::jthread preparing;
  Model model;
  int pool_size;  // device batch tensors
  std::vector<torch::Tensor> pool_tensors;
  class ModelRunner;
  std::atomic<bool> stop{false};       // the workers stop at the next packet
  std::atomic<bool> cancelled{false};  // cancel() was called

  static RunOptions checked(RunOptions o) {
    if (o.decoder != "auto" && o.decoder != "cpu" && o.decoder != "gpu")
      throw Error("invalid decoder '" + o.decoder + "'", "", "expected auto, cpu or gpu");
    if (o.streams < 0 || o.streams > kMaxStreams)
      throw Error("invalid --streams " + std::to_string(o.streams), "", "expected 0 (auto) to " + std::to_string(kMaxStreams));
    if (o.segments < 0) throw Error("invalid --segments " + std::to_string(o.segments), "", "expected 0 (auto) or more");
    if (o.skip_preprocess) o.skip_model = true;
    return o;
  }

  // Auto streams: one decoder per NVDEC engine and one more, so that an engine never waits while its
  // thread does CPU work (demux, parse); libavcodec already uses every core for one input.
  int auto_streams() const {
    if (opt.streams > 0) return opt.streams;
    const int engines = gpu_path ? nvdec_engine_count(device.index()) : 0;
    return engines > 0 ? std::min(kMaxStreams, engines + 1) : 1;
  }

  Impl(RunOptions o, const std::vector<std::string>& first_inputs)
      : opt(checked(std::move(o))),
        device(resolve_device(opt.device)),
        gpu_path(device.is_cuda() && cuda::kernels_available() && opt.decoder != "cpu"),
        nvdec_sessions(gpu_path ? std::make_optional<NvdecSessionKeeper>() : std::nullopt),
        streams(auto_streams()),
        preparing(start_preparing(first_inputs)),
        model(opt.model_path, device, opt.spec.dtype) {
    if (opt.decoder == "gpu" && !gpu_path)
      throw Error("decoder 'gpu' is not available", "",
                  device.is_cuda() ? "this build has no CUDA kernels" : "the model is not on a GPU (--device)");
    // (+1: the batch whose head waits for the next forward, see ModelRunner)
    pool_size = static_cast<int>(kQueueDepth) + 3 + (streams > 1 ? 2 : 0);
    if (device.is_cuda()) warm_up();
    if (gpu_path)
      for (int i = 0; i < pool_size; ++i)
        pool_tensors.push_back(torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width},
                                            torch::TensorOptions().device(device).dtype(to_scalar_type(opt.spec.dtype))));
  }

  // The NVDEC sessions the first run's decoders will want, made on a thread of their own while the
  // model loads and warms up, and left with the kept ones (NvdecSessionKeeper). The driver makes one
  // at a time, ~45 ms each (more while other sessions decode): made in the run, the 8th of 8
  // decoders started ~0.8 s after the first, the others running short of work for the model
  // meanwhile. Only local files are opened here (a network source may take long to answer; its
  // decoder makes its session in the run). VIDINFER_NVDEC_PREPARE=0 turns this off (for measuring).
  std::jthread start_preparing(const std::vector<std::string>& inputs) {
    if (!gpu_path || inputs.empty()) return {};
    if (const char* v = std::getenv("VIDINFER_NVDEC_PREPARE"); v && std::string(v) == "0") return {};
    prepare_t0 = seconds_now();
    return std::jthread([this, inputs](std::stop_token stop_token) { prepare_sessions(inputs, stop_token); });
  }

  static double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  // How many decoders of each of the first inputs will run at once: one per input for as many
  // inputs as there are streams; with fewer inputs, the streams shared between the inputs that may be
  // split into segments (as next_job hands them out, roughly).
  std::vector<int> sessions_per_input(const std::vector<std::string>& inputs) const {
    const size_t n = std::min(inputs.size(), static_cast<size_t>(streams));
    std::vector<int> per(n, 1);
    if (n > 0 && inputs.size() < static_cast<size_t>(streams) && may_segment(inputs.size()))
      for (size_t i = 0; i < n; ++i)
        per[i] = streams / static_cast<int>(n) + (static_cast<int>(i) < streams % static_cast<int>(n) ? 1 : 0);
    return per;
  }

  void prepare_sessions(const std::vector<std::string>& inputs, const std::stop_token& stop_token) {
    int created = 0, wanted = 0;
    const std::vector<int> per = sessions_per_input(inputs);
    // Held until all are made (see prepare_nvdec_sessions), then their sessions go to the kept ones;
    // the demuxers (whose stream parameters the decoders point to) go after them.
    std::vector<std::unique_ptr<Demuxer>> demuxers;
    std::vector<std::unique_ptr<Decoder>> holding;
    // The inputs are opened at once, each on a thread of its own (reading a file's header and first
    // frames took ~55 ms for our 1080p H.264 clip, longer than making its session), and their
    // sessions made in order as they open.
    std::vector<std::future<std::unique_ptr<Demuxer>>> opening;
    for (size_t i = 0; i < per.size(); ++i)
      opening.push_back(std::async(std::launch::async, [path = inputs[i]]() -> std::unique_ptr<Demuxer> {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(path, ec)) return nullptr;
        return std::make_unique<Demuxer>(path);
      }));
    for (size_t i = 0; i < per.size() && !stop_token.stop_requested(); ++i) {
      try {
        std::unique_ptr<Demuxer> opened = opening[i].get();
        if (!opened) continue;
        Demuxer& demux = *demuxers.emplace_back(std::move(opened));
        const StreamInfo& st = demux.stream();
        std::string note;
        NvdecTargetSize target;
        if (!nvdec_takes(st, &target, note)) continue;
        wanted += per[i];
        int made = 0;
        const double t_open = seconds_now();
        int packets = 0;
        auto held = prepare_nvdec_sessions(st, inputs[i], device.index(), target,
                                           [&demux, &packets](AVPacket* p) { return ++packets, demux.read(p); },
                                           per[i], &made);
        created += made;
        if (trace_enabled())
          std::fprintf(stderr, "vidinfer trace: nvdec: %s: %d session(s) made from its first %d packet(s) at %.1f ms, in %.1f ms\n",
                       inputs[i].c_str(), made, packets, (t_open - prepare_t0) * 1e3, (seconds_now() - t_open) * 1e3);
        for (auto& d : held) holding.push_back(std::move(d));
      } catch (const std::exception&) {  // the input's own job reports what is wrong with it
      }
    }
    const double t_release = seconds_now();
    holding.clear();
    if (trace_enabled())
      std::fprintf(stderr, "vidinfer trace: nvdec: the decoders that made them closed in %.1f ms\n",
                   (seconds_now() - t_release) * 1e3);
    if (trace_enabled())
      std::fprintf(stderr, "vidinfer trace: nvdec: %d of %d sessions for the first %zu input(s) made before the run (%.1f ms)\n",
                   created, wanted, per.size(), (seconds_now() - prepare_t0) * 1e3);
  }

  // Waits for prepare_sessions (the start of a run).
  void wait_prepared() {
    if (!preparing.joinable()) return;
    const double t0 = seconds_now();
    preparing.join();
    if (trace_enabled())
      std::fprintf(stderr, "vidinfer trace: nvdec: the run waited %.1f ms for the sessions made before it\n",
                   (seconds_now() - t0) * 1e3);
  }

  // TorchScript's profiling executor optimises a graph over its first runs, and CUDA libraries load
  // their kernels on first use: on a GPU that takes up to a second. Done here, at load time, so that
  // the first batches of the run don't stall the pipeline. A model that fails here fails again,
  // with its error reported per input, in the run.
  void warm_up() {
    try {
      auto x = torch::zeros({opt.spec.batch, 3, opt.spec.height, opt.spec.width},
                            torch::TensorOptions().device(device).dtype(to_scalar_type(opt.spec.dtype)));
      torch::jit::IValue out;
      for (int i = 0; i < 3; ++i) out = model.forward(x);
      // The checks and the head too: their kernels load on first use as well (CUDA loads modules
      // lazily), and the pinned buffers their copies go through are allocated then. Without this
      // the first batch of a run waited about 150 ms for them (H200, the bundled CenterNet).
      if (!opt.skip_model) {
        std::vector<const char*> bad(static_cast<size_t>(opt.spec.batch), nullptr);
        non_finite_rows(out, opt.spec.batch, bad);
        Batch b;
        b.slots.resize(static_cast<size_t>(opt.spec.batch));
        for (auto& s : b.slots) s.geometry = plan_geometry(opt.spec.width, opt.spec.height, opt.spec);
        postprocess(out, b, {std::string("warm-up")});
        // Then the forward of a full batch as CUDA graphs (Model::capture_graphs says why).
        const auto t0 = std::chrono::steady_clock::now();
        std::string why;
        const bool graphs = model.capture_graphs({opt.spec.batch, 3, opt.spec.height, opt.spec.width}, &why);
        if (trace_enabled())
          std::fprintf(stderr, "vidinfer trace: model: %s (%.1f ms)\n",
                       graphs ? "forward recorded as CUDA graphs" : ("forward not recorded as CUDA graphs: " + why).c_str(),
                       seconds_since(t0) * 1e3);
      }
      uintptr_t ev = 0;
      if (!*cuda::event_create(&ev)) {
        cuda::event_record(ev, 0);
        cuda::event_synchronize(ev);
        cuda::event_destroy(ev);
      }
    } catch (const std::exception&) {
    }
  }

  // The jobs of a run, handed out in input order; an input is split into segments when it is taken.
  struct JobSource {
    std::mutex mu;
    const std::vector<std::string>* inputs = nullptr;
    size_t next_input = 0;
    std::deque<Job> pending;
    int planning = 0;            // inputs being planned by a worker (their segments not yet pending)
    std::condition_variable cv;  // signalled when a plan is done
  };

  // Whether an input may be split at all, before opening it: only a selection of every frame (one
  // that counts frames from the input's start, --every or --max-frames, or skips to a time, needs
  // the frames before), and in auto mode only on the GPU path with fewer inputs than streams.
  bool may_segment(size_t n_inputs) const {
    const FrameSelection& sel = opt.selection;
    if (sel.every != 1 || sel.max_frames >= 0 || sel.start > 0 || std::isfinite(sel.end)) return false;
    if (opt.segments == 1) return false;
    if (opt.segments == 0 && (!gpu_path || n_inputs >= static_cast<size_t>(streams))) return false;
    return true;
  }

  // The workers one input may use in auto mode: the streams per input, rounded up.
  int segment_workers(size_t n_inputs) const { return static_cast<int>((streams + n_inputs - 1) / n_inputs); }

  // The keyframe-aligned segments of input i (one job for the whole input when it is not split, or
  // cannot be: no index, too few keyframes, an unknown duration, or it does not open, which its job
  // then reports). --segments N: N near-equal segments. Auto: segments of decreasing size for the
  // input's workers (guided_cuts, segments.h says why), handed out in order, so that a worker that
  // finishes early takes the next, smaller one.
  std::vector<Job> plan(size_t i, const std::vector<std::string>& inputs) {
    Job whole;
    whole.input = i;
    if (!may_segment(inputs.size())) return {whole};
    try {
      Demuxer d(inputs[i]);
      const StreamInfo& st = d.stream();
      if (!(st.duration > 0) || st.time_base.num <= 0 || st.time_base.den <= 0) return {whole};
      const double tb = av_q2d(st.time_base);
      // The stream's real end, not its last keyframe (which would leave the final GOP to a segment).
      const int64_t end = std::llround((st.start_time + st.duration) / tb);
      const std::vector<int64_t> keys = d.keyframe_index();
      const std::vector<int64_t> cuts =
          opt.segments > 1 ? even_cuts(keys, end, opt.segments)
                           : guided_cuts(keys, end, segment_workers(inputs.size()), std::llround(kMinSegmentSeconds / tb),
                                         std::llround(kMaxSegmentSeconds / tb));
      if (cuts.empty()) return {whole};
      std::vector<Job> jobs;
      for (size_t j = 0; j <= cuts.size(); ++j) {
        Job job = whole;
        job.segment = static_cast<int>(j);
        job.segments = static_cast<int>(cuts.size() + 1);
        job.start_key = j == 0 ? AV_NOPTS_VALUE : cuts[j - 1];
        job.end_key = j == cuts.size() ? AV_NOPTS_VALUE : cuts[j];
        jobs.push_back(job);
      }
      return jobs;
    } catch (const std::exception&) {
      return {whole};
    }
  }

  // The next job: a segment already planned, else the next input, planned by this worker outside
  // the lock (planning opens the input) so that workers start their inputs at once.
  std::optional<Job> next_job(JobSource& src) {
    size_t i;
    {
      std::unique_lock lock(src.mu);
      for (;;) {
        if (stop) return std::nullopt;
        if (!src.pending.empty()) {
          Job j = src.pending.front();
          src.pending.pop_front();
          return j;
        }
        if (src.next_input < src.inputs->size()) {
          i = src.next_input++;
          ++src.planning;
          break;
        }
        // No input left to start, but one being planned may yet give segments to take.
        if (src.planning == 0) return std::nullopt;
        src.cv.wait_for(lock, std::chrono::milliseconds(50));
      }
    }
    std::vector<Job> jobs;
    try {
      jobs = plan(i, *src.inputs);
    } catch (...) {
      jobs.clear();
    }
    if (jobs.empty()) {
      Job whole;
      whole.input = i;
      jobs.push_back(whole);
    }
    {
      std::lock_guard lock(src.mu);
      for (size_t k = 1; k < jobs.size(); ++k) src.pending.push_back(jobs[k]);
      --src.planning;
    }
    src.cv.notify_all();
    return jobs.front();
  }

  // Whether NVDEC takes the stream (else `note` says why not), and into `target`, the size its
  // sessions decode to (see NvdecTargetSize; `note` says it).
  bool nvdec_takes(const StreamInfo& st, NvdecTargetSize* target, std::string& note) const {
    // A pixel format FFmpeg could not tell (no software decoder for the codec here) is taken as 4:2:0;
    // the NVDEC parser reads the real one from the bitstream and refuses others.
    const auto fmt = static_cast<AVPixelFormat>(st.codecpar->format);
    const GpuDecodeSupport s = nvdec_supports(st.codecpar->codec_id, fmt == AV_PIX_FMT_NONE ? AV_PIX_FMT_YUV420P : fmt,
                                              st.codecpar->width, st.codecpar->height, device.index());
    if (!s.supported) {
      note = s.reason;
      return false;
    }
    *target = {};
    if (opt.nvdec_resize) {
      // Each sequence decoded to its frames' scaled size, unturned (geometry.h), as far as NVDEC can.
      const int turn = opt.apply_rotation ? display_turn(st.rotation) : 0;
      *target = [spec = opt.spec, turn](int w, int h) { return nvdec_target_size(plan_geometry(w, h, spec, turn)); };
      if (st.codecpar->width > 0 && st.codecpar->height > 0) {  // the summary says what to expect
        std::string why;
        const auto [tw, th] = nvdec_target_size(plan_geometry(st.codecpar->width, st.codecpar->height, opt.spec, turn), &why);
        note = why.empty() ? "; NVDEC resizes to " + std::to_string(tw) + "x" + std::to_string(th)
                           : "; NVDEC does not resize: " + why;
      }
    }
    return true;
  }

  // The decoder for one input: NVDEC when this run is on the GPU and NVDEC takes the stream, else
  // libavcodec, with the reason in its name.
  std::unique_ptr<Decoder> open_decoder(const StreamInfo& st, const std::string& path, std::string& note) {
    if (!gpu_path) return make_cpu_decoder(st, path, opt.decode_threads);
    NvdecTargetSize target;
    std::string why;
    if (nvdec_takes(st, &target, why)) {
      note = why;
      auto gpu = make_nvdec_decoder(st, path, device.index(), target);
      if (opt.decoder == "gpu") return gpu;  // a refusal part-way fails the input (see run_job)
      // A stream that changes part-way to something NVDEC cannot take (4:4:4, a size beyond its
      // limits) goes on on the CPU decoder from there.
      return with_fallback(std::move(gpu), [this, &st, &path] { return make_cpu_decoder(st, path, opt.decode_threads); });
    }
    if (opt.decoder == "gpu") throw Error("cannot decode on the GPU", path, why);
    note = "; GPU decoder not used: " + why;
    return make_cpu_decoder(st, path, opt.decode_threads);
  }

  // What one worker thread carries from job to job.
  struct WorkerState {
    int id = 0;
    CpuPreprocessor pre;
    GpuPreprocessor gpre;
    StageTimes times;
    std::thread reaper;  // closes the last job's decoder and demuxer beside the next job's work
    WorkerState(int i, const ModelSpec& spec) : id(i), pre(spec), gpre(spec) {}
    ~WorkerState() {
      if (reaper.joinable()) reaper.join();
    }
  };

  // One job, start to end; its completion goes to the batcher. Never throws.
  void run_job(const Job& job, const std::string& path, WorkerState& w, Batcher& batcher, DevicePool& pool,
               std::chrono::steady_clock::time_point run_t0) {
    // VIDINFER_TRACE=1: one line per job on stderr with the times of its phases (for measuring).
    const bool trace = trace_enabled();
    StageTimes& times = w.times;
    double t_open = 0, t_first = -1, t_last = 0;
    JobDone done;
    done.job = job;
    done.summary.input = path;
    const auto t0 = std::chrono::steady_clock::now();
    done.t_start = std::chrono::duration<double>(t0 - run_t0).count();
    Batcher::Lane lane = Batcher::kNone;
    std::unique_ptr<Demuxer> demuxer;
    std::unique_ptr<Decoder> decoder;
    const int64_t slot_bytes = 3 * static_cast<int64_t>(opt.spec.height) * opt.spec.width *
                               torch::elementSize(to_scalar_type(opt.spec.dtype));
    const bool segmented = job.segments > 1;
    try {
      demuxer = std::make_unique<Demuxer>(path);
      Demuxer& demux = *demuxer;
      std::string note;
      decoder = open_decoder(demux.stream(), path, note);
      done.summary.decoder = decoder->name() + note;
      const uintptr_t stream = decoder->cuda_stream();
      const bool on_device = stream != 0;
      // This worker's earlier jobs may have written into batches still open, on their own streams:
      // this stream waits for that work first, so the written events recorded on it cover it too.
      if (on_device && !opt.skip_preprocess && static_cast<size_t>(w.id) < pool.written.size())
        for (uintptr_t e : pool.written[w.id]) cuda_check(cuda::stream_wait_event(stream, e), "cannot order CUDA work");
      t_open = seconds_since(t0);
      const StreamInfo& st = demux.stream();
      const int turn = opt.apply_rotation ? display_turn(st.rotation) : 0;
      const double frame_dur = st.frame_rate.num ? av_q2d(av_inv_q(st.frame_rate)) : 0.0;
      const double expected = st.nb_frames > 0 ? static_cast<double>(st.nb_frames) : st.duration * av_q2d(st.frame_rate);
      auto pkt = make_av_packet();
      auto frame = make_av_frame();
      int64_t index = 0, in_range = 0, processed = 0;
      double last_pts = st.start_time - frame_dur;
      bool finished = false;
      // A segment's range of presentation timestamps, [start_pts, end_pts), in the stream's time base;
      // end_pts is known once the next segment's keyframe has been read.
      int64_t start_pts = AV_NOPTS_VALUE, end_pts = AV_NOPTS_VALUE;
      bool past_end_key = false;
      if (job.start_key != AV_NOPTS_VALUE) demux.seek_keyframe(job.start_key);
      // Handles one decoded frame; false once the selection is exhausted.
      auto take = [&]() -> bool {
        const int64_t ts = frame->best_effort_timestamp;
        if (segmented && ts != AV_NOPTS_VALUE &&
            ((start_pts != AV_NOPTS_VALUE && ts < start_pts) || (end_pts != AV_NOPTS_VALUE && ts >= end_pts)))
          return true;  // another segment's frame (leading pictures of an open GOP, decoded for reference)
        const double pts = ts != AV_NOPTS_VALUE ? demux.to_seconds(ts) : last_pts + frame_dur;
        last_pts = pts;
        const int64_t this_index = index++;
        if (t_first < 0) t_first = seconds_since(t0);
        ++done.summary.frames_decoded;
        const double t = pts - st.start_time;
        const FrameSelection& sel = opt.selection;
        if (t < sel.start - 1e-9) return true;
        if (t >= sel.end - 1e-9) return false;
        if (in_range++ % sel.every != 0) return true;
        ++done.selected;
        if (!opt.skip_preprocess) {
          ScopedTimer timer(times.preprocess);
          Slot s;
          s.input = job.input;
          s.segment = job.segment;
          s.frame_index = this_index;
          s.pts = pts;
          s.expected_frames = expected;
          const bool device_frame = is_device_frame(frame.get());
          const Batcher::Lane frame_lane = device_frame ? Batcher::kDevice : Batcher::kHost;
          // The decoder went over from the GPU to the CPU part-way: this job's device-lane frames go
          // out before its first host-lane frame, so that the input's frames stay in order.
          if (lane == Batcher::kDevice && frame_lane == Batcher::kHost) batcher.flush(Batcher::kDevice);
          lane = frame_lane;
          const Batcher::Claim c = batcher.claim(lane);
          try {
            if (device_frame) {
              const int p = c.open->batch.pool_index;
              // Do not overwrite the tensor before the model has finished reading it.
              cuda_check(cuda::stream_wait_event(stream, pool.done[p]), "cannot order CUDA work");
              s.geometry = w.gpre.run(frame.get(), reinterpret_cast<uintptr_t>(c.open->batch.data.data_ptr()) + c.k * slot_bytes, stream, turn);
              cuda_check(cuda::event_record(pool.written[w.id][p], stream), "cannot record a CUDA event");
            } else {
              s.geometry = w.pre.run(frame.get(), c.open->batch.data[c.k].data_ptr<float>(), turn);
            }
          } catch (...) {
            s.valid = false;
            batcher.commit(lane, c, s, w.id);
            throw;
          }
          batcher.commit(lane, c, s, w.id);
        }
        ++processed;
        return sel.max_frames < 0 || processed < sel.max_frames;
      };
      auto drain = [&]() {
        while (!finished && !stop) {
          bool got;
          {
            ScopedTimer timer(times.decode);
            got = decoder->receive(frame.get());
          }
          if (!got) break;
          finished = !take();
        }
      };
      bool eof = false;
      while (!finished && !stop) {
        bool more;
        {
          ScopedTimer timer(times.demux);
          more = demux.read(pkt.get());
        }
        if (!more) {
          eof = true;
          break;
        }
        if (job.start_key != AV_NOPTS_VALUE && start_pts == AV_NOPTS_VALUE) {
          // The seek may land on an earlier keyframe: the segment starts at its own.
          if (!(pkt->flags & AV_PKT_FLAG_KEY) || demux.key_timestamp(pkt.get()) < job.start_key) continue;
          if (pkt->pts == AV_NOPTS_VALUE) throw Error("cannot decode in segments", path, "keyframe without a timestamp");
          start_pts = pkt->pts;
        }
        if (job.end_key != AV_NOPTS_VALUE) {
          if (!past_end_key && (pkt->flags & AV_PKT_FLAG_KEY) && demux.key_timestamp(pkt.get()) >= job.end_key) {
            // The next segment's keyframe: it is decoded here too, with the pictures that follow it
            // in decode order but come before it (open GOP), and then this segment is complete.
            past_end_key = true;
            end_pts = pkt->pts;
            if (end_pts == AV_NOPTS_VALUE) throw Error("cannot decode in segments", path, "keyframe without a timestamp");
          } else if (past_end_key && (pkt->pts == AV_NOPTS_VALUE || pkt->pts >= end_pts)) {
            eof = true;
            break;
          }
        }
        {
          ScopedTimer timer(times.decode);
          decoder->send(pkt.get());
        }
        drain();
        if (const std::string why = decoder->refused(); !why.empty())  // only with --decoder gpu
          throw Error("cannot decode on the GPU", path,
                      why + ", after frame " + std::to_string(index) + " (--decoder gpu: no CPU fallback)");
      }
      if (!finished && !stop) {
        {
          ScopedTimer timer(times.decode);
          decoder->send(nullptr);
        }
        drain();
      }
      const bool halted = !finished && (!eof || stop);  // cut short by cancel() or --on-error fail
      done.summary.packets_corrupt = decoder->packets_corrupt();
      done.summary.decoder = decoder->name() + note;  // again: the GPU decoder may have handed over
      t_last = seconds_since(t0);
      if (halted) {
        done.halted = true;
        throw Error(cancelled ? "interrupted" : "stopped after an earlier failure (--on-error fail)", path,
                    std::to_string(index) + " frames decoded");
      }
      if (!demux.read_error().empty())
        done.summary.warning = "read error after frame " + std::to_string(index) + ": " + demux.read_error() +
                               " (file truncated or damaged; frames before it were kept)";
      if (done.summary.frames_decoded == 0) {
        std::string cause = "no frame could be decoded";
        if (done.summary.packets_corrupt) cause += " (" + std::to_string(done.summary.packets_corrupt) + " corrupt packets)";
        if (!demux.read_error().empty()) cause += " (read error: " + demux.read_error() + ")";
        throw Error("decoding failed", path, cause);
      }
    } catch (const Error& e) {
      done.summary.status = InputStatus::Failed;
      done.summary.error = e.input().empty() ? e.with_input(path).what() : e.what();
    } catch (const std::exception& e) {
      done.summary.status = InputStatus::Failed;
      done.summary.error = Error("failed", path, e.what()).what();
    }
    // --on-error fail: decided here, where the failure is seen, so later inputs are never started.
    if (done.summary.status == InputStatus::Failed && opt.stop_on_error) stop = true;
    done.summary.seconds = seconds_since(t0);
    done.t_end = done.t_start + done.summary.seconds;
    // Closing a hardware decoder takes up to ~0.2 s: do it beside the next job's work.
    if (w.reaper.joinable()) w.reaper.join();
    w.reaper = std::thread([d = std::move(decoder), m = std::move(demuxer)]() mutable {
      d.reset();
      m.reset();
#ifdef __GLIBC__
      // Hand the input's freed buffers back to the system, so that host memory stays flat over
      // long runs of many inputs instead of creeping up with heap fragmentation.
      malloc_trim(0);
#endif
    });
    if (trace)
      std::fprintf(stderr, "vidinfer trace: %s [%d/%d]: started at %.1f ms; opened %.1f ms, first frame %.1f ms, last frame %.1f ms, finished %.1f ms\n",
                   path.c_str(), job.segment + 1, job.segments, done.t_start * 1e3, t_open * 1e3, t_first * 1e3, t_last * 1e3,
                   done.summary.seconds * 1e3);
    batcher.job_done(lane, std::move(done));
  }

  std::vector<FrameResult> postprocess(const torch::jit::IValue& out, const Batch& b, const std::vector<std::string>& inputs) {
    const int n = static_cast<int>(b.slots.size());
    std::vector<FrameResult> results(n);
    for (int k = 0; k < n; ++k) {
      results[k].input = inputs[b.slots[k].input];
      results[k].frame_index = b.slots[k].frame_index;
      results[k].pts = b.slots[k].pts;
      results[k].width = b.slots[k].geometry.src_w;
      results[k].height = b.slots[k].geometry.src_h;
    }
    if (opt.task == Task::Classify) {
      const ClassifyParams p = classify_params(opt);
      auto per = classify_head(out, n, p, opt.labels);
      for (int k = 0; k < n; ++k) results[k].classes = std::move(per[k]);
    } else {
      const DetectParams p = detect_params(opt);
      std::vector<Geometry> geos;
      for (const auto& s : b.slots) geos.push_back(s.geometry);
      auto per = detect_head(out, geos, p, opt.labels);
      for (int k = 0; k < n; ++k) results[k].detections = std::move(per[k]);
    }
    return results;
  }
};

// Runs batches through the model on the consumer's thread, one step behind on the host: a batch's
// forward is queued on the model stream, and only then is the previous batch's output checked for
// NaN/Inf and run through the head, on a second stream that waits for that forward. The head's host
// work and copies (the first waits for the GPU) thus overlap the next forward on the GPU, instead of
// leaving the GPU without model work for that part of every batch. On the CPU, or with
// VIDINFER_OVERLAP_HEAD=0 (for measuring), each batch is finished before the next.
class Pipeline::Impl::ModelRunner {
 public:
  struct Done {
    std::vector<Slot> slots;            // the batch's, in row order
    std::vector<FrameResult> results;   // one per slot that went through the model
    std::vector<const char*> bad;       // per result: "NaN" / "Inf" in the model's output, or null
    bool skipped_model = false;         // decode + preprocess only
    std::string error;                  // the model failed: it would fail on every input alike
    std::string warning;                // the out-of-memory back-off, for input warning_input
    size_t warning_input = 0;
    double infer_s = 0, post_s = 0;
    int64_t host_to_device_bytes = 0;
  };

  // model_stream: the consumer thread's current stream (ModelStream), on which forwards run.
  ModelRunner(Impl& m, DevicePool& pool, const std::vector<std::string>& inputs, uintptr_t model_stream)
      : m_(m), pool_(pool), inputs_(inputs), ms_(model_stream), trace_(model_stream), model_batch_(m.opt.spec.batch) {
    head_stream_ = head_cuda_stream(m.device, model_stream);
    if (head_stream_)
      for (auto& e : forwarded_) cuda_check(cuda::event_create(&e), "cannot create a CUDA event");
  }
  ~ModelRunner() {
    for (auto e : forwarded_)
      if (e) cuda::event_destroy(e);
  }
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // Queues batch `seq`'s forward and finishes the batch before it (run_model false: the model has
  // failed; the batch only releases its tensor).
  void submit(uint64_t seq, Batch b, bool run_model) {
    Pending cur;
    cur.seq = seq;
    cur.batch = std::move(b);
    cur.d.slots = cur.batch.slots;
    forward(cur, run_model);
    if (prev_) {
      finish(*prev_);
      prev_.reset();
    }
    if (head_stream_ && !cur.chunks.empty()) {
      cuda_check(cuda::event_record(forwarded_[seq % 2], ms_), "cannot record a CUDA event");
      cur.forwarded = forwarded_[seq % 2];
      prev_ = std::move(cur);
    } else {
      finish(cur);
    }
  }
  // Finishes the batch still waiting for its head (at the end, or when the consumer has nothing else).
  void flush() {
    if (!prev_) return;
    finish(*prev_);
    prev_.reset();
  }
  // Batch `seq`'s outcome, once finished.
  std::optional<Done> take(uint64_t seq) {
    auto it = done_.find(seq);
    if (it == done_.end()) return std::nullopt;
    Done d = std::move(it->second);
    done_.erase(it);
    return d;
  }
  void print_trace(double waited) {
    trace_.wait = waited;
    trace_.print(head_stream_ ? "model (head overlapping the next forward)" : "model");
  }

 private:
  struct Chunk {
    int off = 0, len = 0;
    torch::jit::IValue out;
    int trace_slot = 0;
  };
  struct Pending {
    uint64_t seq = 0;
    Batch batch;
    Done d;
    std::vector<Chunk> chunks;
    uintptr_t forwarded = 0;  // recorded on the model stream after the chunks' forwards
  };

  // The forwards, in chunks of model_batch_ frames (the whole batch unless an out-of-memory error
  // has halved it).
  void forward(Pending& P, bool run_model) {
    const RunOptions& opt = m_.opt;
    Batch& b = P.batch;
    Done& d = P.d;
    const int n = static_cast<int>(b.slots.size());
    const int p = b.pool_index;
    try {
      // Order the model after every writer's kernels (on their decoders' streams).
      if (p >= 0)
        for (int w = 0; w < m_.streams; ++w)
          if (b.writers >> w & 1) {
            if (opt.skip_model) cuda_check(cuda::event_synchronize(pool_.written[w][p]), "CUDA");
            else cuda_check(cuda::stream_wait_event(ms_, pool_.written[w][p]), "cannot order CUDA work");
          }
      if (opt.skip_model) {
        d.skipped_model = true;
        return;
      }
      if (!run_model) return;
      if (p < 0 && m_.device.is_cuda()) d.host_to_device_bytes = b.data.element_size() * b.data[0].numel() * n;
      for (int off = 0; off < n;) {
        const int len = std::min(model_batch_, n - off);
        Chunk c;
        c.off = off;
        c.len = len;
        try {
          ScopedTimer timer(d.infer_s);
          ScopedTimer trace_timer(trace_.forward);
          c.trace_slot = trace_.before_forward();
          c.out = m_.model.forward(off == 0 && len == b.data.size(0) ? b.data : b.data.narrow(0, off, len));
          trace_.after_forward(c.trace_slot);
        } catch (const Error& e) {
          if (!is_out_of_memory(e)) throw;
          if (backed_off_ || len == 1)
            throw Error("model ran out of memory", opt.model_path,
                        "batch of " + std::to_string(len) + " frames" +
                            (backed_off_ ? " after halving the batch from " + std::to_string(opt.spec.batch) : "") +
                            " (" + e.cause() + ")");
          backed_off_ = true;
          model_batch_ = std::max(1, len / 2);
          d.warning_input = b.slots[off].input;
          d.warning = "model ran out of memory with a batch of " + std::to_string(len) + " frames; batch halved to " +
                      std::to_string(model_batch_) + " for the rest of the run (" + e.cause() + ")";
          std::fprintf(stderr, "vidinfer: warning: %s: %s\n", inputs_[d.warning_input].c_str(), d.warning.c_str());
          continue;  // the same frames again, in smaller chunks
        }
        P.chunks.push_back(std::move(c));
        off += len;
      }
    } catch (const Error& e) {
      d.error = e.input().empty() ? e.with_input(opt.model_path).what() : e.what();
      P.chunks.clear();
    }
  }

  // The checks and the head of a batch whose forwards are queued, then its tensor back to the pool.
  void finish(Pending& P) {
    const RunOptions& opt = m_.opt;
    Done& d = P.d;
    uintptr_t last = ms_;  // the stream the batch's last work is on
    try {
      std::optional<ModelStream> head_stream;  // current on this thread until the end of the block
      if (P.forwarded) {
        head_stream.emplace(m_.device, head_stream_);
        last = head_stream->handle();
        cuda_check(cuda::stream_wait_event(last, P.forwarded), "cannot order CUDA work");
      }
      for (Chunk& c : P.chunks) {
        Batch chunk;
        chunk.slots.assign(P.batch.slots.begin() + c.off, P.batch.slots.begin() + c.off + c.len);
        // NaNs often depend on the frames (a black frame and a division): they fail the input
        // whose frame it was (its later results are dropped), not the run, nor the other inputs
        // that share the batch.
        std::vector<const char*> bad(c.len, nullptr);
        {
          ScopedTimer timer(trace_.check);
          non_finite_rows(c.out, c.len, bad);
        }
        std::vector<FrameResult> results;
        {
          ScopedTimer timer(d.post_s);
          ScopedTimer trace_timer(trace_.post);
          results = m_.postprocess(c.out, chunk, inputs_);
        }
        trace_.collect(c.trace_slot);
        ++trace_.batches;
        trace_.frames += c.len;
        for (auto& r : results) d.results.push_back(std::move(r));
        d.bad.insert(d.bad.end(), bad.begin(), bad.end());
      }
      // The tensor may be refilled once the stream is past the forward and the head (which may
      // read the input, if the output is a view of it).
      if (P.batch.pool_index >= 0) cuda::event_record(pool_.done[P.batch.pool_index], last);
    } catch (const Error& e) {
      d.error = e.input().empty() ? e.with_input(opt.model_path).what() : e.what();
      d.results.clear();
      d.bad.clear();
      if (P.batch.pool_index >= 0) cuda::event_record(pool_.done[P.batch.pool_index], last);
    }
    if (P.batch.pool_index >= 0) pool_.free.push(P.batch.pool_index);
    P.chunks.clear();
    done_.emplace(P.seq, std::move(d));
  }

  Impl& m_;
  DevicePool& pool_;
  const std::vector<std::string>& inputs_;
  uintptr_t ms_;
  ModelTrace trace_;
  uintptr_t forwarded_[2] = {0, 0};
  uintptr_t head_stream_ = 0;  // the heads' stream (always the same one: LibTorch's memory is pooled per stream)
  std::optional<Pending> prev_;
  std::map<uint64_t, Done> done_;
  int model_batch_;  // frames per model call; halved once on out-of-memory
  bool backed_off_ = false;
};

Pipeline::Pipeline(RunOptions options, const std::vector<std::string>& first_inputs) {
  if (options.spec.batch < 1) throw Error("invalid batch size", "", "must be at least 1");
  if (options.selection.every < 1) throw Error("invalid --every", "", "must be at least 1");
  impl_ = std::make_unique<Impl>(std::move(options), first_inputs);
}

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
          t.gpu = impl_->device.is_cuda() && s.decoder.rfind("gpu", 0) == 0;
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
  std::atomic<bool>& stop = m.stop;
  stop = m.cancelled.load();
  m.wait_prepared();

  // The device batch tensors (shared by every run of this pipeline) and this run's events.
  DevicePool pool(static_cast<size_t>(m.pool_size));
  if (m.gpu_path) {
    pool.tensors = m.pool_tensors;
    pool.written.resize(m.streams);
    for (int p = 0; p < m.pool_size; ++p) {
      uintptr_t e = 0;
      cuda_check(cuda::event_create(&e), "cannot create a CUDA event");
      pool.done.push_back(e);
      for (int w = 0; w < m.streams; ++w) {
        cuda_check(cuda::event_create(&e), "cannot create a CUDA event");
        pool.written[w].push_back(e);
      }
      pool.free.push(p);
    }
  }
  const auto host_tensor = [&] {
    auto t = torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width}, torch::kFloat);
    return m.device.is_cuda() ? t.pin_memory() : t;
  };
  BoundedQueue<Item> queue(kQueueDepth);
  Batcher batcher(queue, &pool, opt.spec.batch, m.streams, host_tensor);
  Impl::JobSource source;
  source.inputs = &inputs;
  std::vector<std::unique_ptr<Impl::WorkerState>> workers;
  for (int w = 0; w < m.streams; ++w) workers.push_back(std::make_unique<Impl::WorkerState>(w, opt.spec));
  std::vector<std::thread> threads;
  for (int w = 0; w < m.streams; ++w)
    threads.emplace_back([&, w] {
      while (auto job = m.next_job(source)) m.run_job(*job, inputs[job->input], *workers[w], batcher, pool, t0);
      batcher.worker_exit();
    });

  // Per input: its segments' results are put back in frame order. Segment `next` is delivered as it
  // comes; later segments' results wait in `held` until the segments before them are complete (frame
  // indices are then known: `offset` frames come before segment `next`).
  struct InputState {
    int segments = 0, next = 0;
    int64_t offset = 0;
    std::map<int, std::vector<FrameResult>> held;
    std::map<int, JobDone> done;
    InputSummary merged;
    bool any_done = false, finished = false, halted = false, broken = false;
    std::string first_decoder;  // the first segment's, which the merged summary names
    double t_start = 1e300, t_end = 0, expected = 0;
    // The earliest frame (segment, index within it) the model gave NaN/Inf for: it and every later
    // frame of the input are dropped, the frames before it kept (input_error says which it was).
    std::pair<int, int64_t> cut{std::numeric_limits<int>::max(), std::numeric_limits<int64_t>::max()};
    bool before_cut(int segment, int64_t index) const { return std::make_pair(segment, index) < cut; }
  };
  std::vector<InputState> state(inputs.size());
  size_t inputs_done = 0;
  std::string last_input;

  std::string model_error;  // set once the model fails: it would fail on every input alike
  std::vector<std::string> input_error(inputs.size());     // the model failed on this input only (NaN/Inf)
  std::vector<std::string> model_warnings(inputs.size());  // the out-of-memory back-off, where it happened
  std::vector<int64_t> processed(inputs.size(), 0);

  const auto progress = [&] {
    if (!on_progress || inputs.empty()) return;
    double in_flight = 0;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (!state[i].finished && state[i].expected > 0) in_flight += std::min(1.0, processed[i] / state[i].expected);
    const size_t idx = std::min(inputs_done, inputs.size() - 1);
    on_progress(Progress{idx, inputs.size(), last_input, static_cast<double>(inputs_done - idx) + in_flight, summary.frames});
  };
  const auto deliver = [&](FrameResult& r, InputState& st, size_t i) {
    r.frame_index += st.offset;
    ++processed[i];
    ++summary.frames;
    on_frame(r);
  };
  const auto route = [&](FrameResult& r, const Slot& s) {
    InputState& st = state[s.input];
    if (st.broken || !st.before_cut(s.segment, s.frame_index)) return;
    if (s.segment == st.next) deliver(r, st, s.input);
    else st.held[s.segment].push_back(std::move(r));
  };
  // The input's final summary, from its segments' (`complete`: every segment ran to its end).
  const auto finish_input = [&](size_t i, bool complete) {
    InputState& st = state[i];
    InputSummary s = st.merged;
    if (!st.any_done) s.input = inputs[i];
    if (st.segments > 1) s.decoder += "; " + std::to_string(st.segments) + " segments decoded at once";
    s.frames_processed = processed[i];
    if (!model_warnings[i].empty()) s.warning = s.warning.empty() ? model_warnings[i] : s.warning + "; " + model_warnings[i];
    if (!input_error[i].empty() && s.status == InputStatus::Ok) {
      s.status = InputStatus::Failed;
      s.error = input_error[i];
    }
    if (!model_error.empty() && (s.status == InputStatus::Ok || st.halted || !complete)) {
      s.status = InputStatus::Failed;
      s.error = model_error;
    }
    if (!complete && s.status == InputStatus::Ok) {
      s.status = InputStatus::Failed;
      s.error = inputs[i] + (st.any_done ? ": not complete: " : ": not processed: ") +
                (m.cancelled           ? "interrupted"
                 : opt.stop_on_error ? "stopped after an earlier failure (--on-error fail)"
                                     : "stopped");
    }
    summary.inputs[i] = s;
    st.finished = true;
    st.held.clear();
    ++inputs_done;
    if (on_input) on_input(s);
    progress();
  };
  const auto job_done = [&](JobDone& d) {
    const size_t i = d.job.input;
    InputState& st = state[i];
    if (opt.skip_model) {  // decode-only runs send no batches: count what was selected
      if (opt.skip_preprocess) {
        processed[i] += d.selected;
        summary.frames += d.selected;
      }
    }
    st.segments = d.job.segments;
    st.done.emplace(d.job.segment, std::move(d));
    while (st.done.count(st.next)) {
      JobDone& x = st.done.at(st.next);
      InputSummary& mg = st.merged;
      if (!st.any_done) {
        mg.input = x.summary.input;
        mg.decoder = x.summary.decoder;
        st.first_decoder = x.summary.decoder;
        st.any_done = true;
      } else if (!x.summary.decoder.empty() && x.summary.decoder != st.first_decoder) {
        // (A segment whose decoder differs from the first's: one the GPU decoder refused part-way.)
        mg.decoder += "; segment " + std::to_string(x.job.segment + 1) + ": " + x.summary.decoder;
      }
      mg.frames_decoded += x.summary.frames_decoded;
      mg.packets_corrupt += x.summary.packets_corrupt;
      if (x.summary.status == InputStatus::Failed && mg.status != InputStatus::Failed) {
        mg.status = InputStatus::Failed;
        mg.error = x.summary.error;
      }
      if (!x.summary.warning.empty()) mg.warning = mg.warning.empty() ? x.summary.warning : mg.warning + "; " + x.summary.warning;
      st.t_start = std::min(st.t_start, x.t_start);
      st.t_end = std::max(st.t_end, x.t_end);
      mg.seconds = st.t_end - st.t_start;
      st.halted |= x.halted;
      // After a segment that failed, later segments' frame indices are unknown: their results are dropped.
      if (x.summary.status == InputStatus::Failed) st.broken = true;
      st.offset += x.summary.frames_decoded;
      st.done.erase(st.next);
      ++st.next;
      if (auto h = st.held.find(st.next); h != st.held.end()) {
        if (!st.broken)
          for (auto& r : h->second)
            if (st.before_cut(st.next, r.frame_index)) deliver(r, st, i);
        st.held.erase(h);
      }
    }
    if (st.next == st.segments) finish_input(i, true);
  };

  // The model runs here, one step behind on the host (ModelRunner); results are routed in the order
  // the batches came.
  ModelStream model_stream(m.device);  // this thread's LibTorch work goes on its own stream
  Impl::ModelRunner runner(m, pool, inputs, model_stream.handle());
  auto t_wait = std::chrono::steady_clock::now();
  double waited = 0;
  uint64_t next_seq = 0;
  std::deque<std::variant<JobDone, uint64_t>> pending;  // in queue order: completions and batches in flight

  // Routes one batch's results (in row order: an input's frames before a bad one are kept).
  const auto commit = [&](Impl::ModelRunner::Done& c) {
    summary.stages.infer += c.infer_s;
    summary.stages.postprocess += c.post_s;
    summary.host_to_device_bytes += c.host_to_device_bytes;
    if (!c.warning.empty()) model_warnings[c.warning_input] = c.warning;
    if (!c.error.empty() && model_error.empty()) {
      model_error = c.error;
      stop = true;
    }
    for (const Slot& s : c.slots) last_input = inputs[s.input];
    if (c.skipped_model) {  // measuring decode + preprocess: the batch is ready, emit nothing
      for (const Slot& s : c.slots) ++processed[s.input];
      summary.frames += static_cast<int64_t>(c.slots.size());
    }
    for (size_t k = 0; k < c.results.size(); ++k) {
      const Slot& s = c.slots[k];
      InputState& st = state[s.input];
      if (!s.valid || !st.before_cut(s.segment, s.frame_index)) continue;
      if (c.bad[k]) {
        st.cut = {s.segment, s.frame_index};
        // A frame of a segment whose earlier segments are not all in yet has no input-wide
        // index: it is named by its time.
        char when[64];
        std::snprintf(when, sizeof when, "at %.3f s", s.pts);
        const std::string where =
            s.segment == st.next ? "at frame " + std::to_string(s.frame_index + st.offset) : std::string(when);
        input_error[s.input] =
            Error(std::string("model output has ") + c.bad[k], opt.model_path, where + " of " + inputs[s.input]).what();
        continue;
      }
      route(c.results[k], s);
    }
    progress();
  };
  // Handles the oldest pending item if it is ready: a completion, or a batch the runner has finished.
  const auto settle_front = [&]() -> bool {
    if (pending.empty()) return false;
    if (auto* d = std::get_if<JobDone>(&pending.front())) {
      job_done(*d);
      pending.pop_front();
      return true;
    }
    auto c = runner.take(std::get<uint64_t>(pending.front()));
    if (!c) return false;
    commit(*c);
    pending.pop_front();
    return true;
  };
  while (true) {
    while (settle_front()) {
    }
    t_wait = std::chrono::steady_clock::now();
    auto item = queue.pop();
    waited += std::chrono::duration<double>(std::chrono::steady_clock::now() - t_wait).count();
    if (!item) break;
    if (auto* d = std::get_if<JobDone>(&*item)) {
      pending.emplace_back(std::move(*d));
      continue;
    }
    Batch& b = std::get<Batch>(*item);
    for (const Slot& s : b.slots) state[s.input].expected = s.expected_frames;
    const uint64_t seq = next_seq++;
    pending.emplace_back(seq);
    runner.submit(seq, std::move(b), model_error.empty());
  }
  runner.flush();
  while (settle_front()) {
  }
  runner.print_trace(waited);
  summary.seconds = seconds_since(t0);  // all results delivered; teardown below is not counted
  for (auto& t : threads) t.join();
  for (const auto& w : workers) {  // stage times are summed over the worker threads
    summary.stages.demux += w->times.demux;
    summary.stages.decode += w->times.decode;
    summary.stages.preprocess += w->times.preprocess;
  }
  const double t_joined = seconds_since(t0);
  workers.clear();  // joins the reapers
  if (trace_enabled())
    std::fprintf(stderr, "vidinfer trace: run: %zu input(s) on %d stream(s): results delivered %.1f ms, workers "
                 "joined %.1f ms, decoders closed %.1f ms\n", inputs.size(), m.streams, summary.seconds * 1e3,
                 t_joined * 1e3, seconds_since(t0) * 1e3);
  // Inputs not complete: never reached, or some of their segments were not run (stopped).
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!state[i].finished) finish_input(i, false);
  summary.fps = summary.seconds > 0 ? summary.frames / summary.seconds : 0;
  summary.interrupted = m.cancelled;
  return summary;
}

}  // namespace vidinfer
