// The pipeline: one producer thread demuxes, decodes (NVDEC or libavcodec) and preprocesses frames
// (CUDA kernel into a device batch, or swscale into a host batch) into model batches; the calling
// thread runs the model and the task head and hands results to the callback. A bounded queue between
// them keeps at most kQueueDepth batches in flight.
//
//   producer: Demuxer -> Decoder -> selection -> CpuPreprocessor -> Batch ─┐
//                                                                          │ BoundedQueue<Item>
//   caller:   Model::forward -> classify_head / detect_head -> on_frame <──┘
#include "vidinfer/pipeline.h"

#include <atomic>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>
#include <utility>
#include <variant>

#include "common/timer.h"
#include "decode/decoder.h"
#include "decode/nvdec_caps.h"
#include "demux/demuxer.h"
#include "infer/model.h"
#include "infer/model_stream.h"
#include "pipeline/annotate_pass.h"
#include "pipeline/bounded_queue.h"
#include "postprocess/heads.h"
#include "preprocess/cpu_preprocessor.h"
#include "preprocess/gpu_preprocessor.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

constexpr size_t kQueueDepth = 2;

struct Slot {
  int64_t frame_index = 0;
  double pts = 0;
  Geometry geometry;
};

struct Batch {
  size_t input = 0;
  // [capacity, 3, H, W]: float32 in (pinned) host memory from the CPU path, or a tensor of the
  // device pool, already in the model's dtype, from the GPU path. The first slots.size() are used.
  torch::Tensor data;
  int pool_index = -1;  // >= 0: device batch; its kernels are done when the pool's ready event is
  std::vector<Slot> slots;
  double fraction = 0;  // of the input, by time, at the last slot
};

// Sent once per input after its last batch.
struct InputDone {
  size_t input = 0;
  InputSummary summary;
  bool halted = false;  // cut short because the run was stopping
};

using Item = std::variant<Batch, InputDone>;

// The device batches: a fixed ring of batch tensors on the GPU, each with an event for "kernels done"
// (recorded by the producer on the decoder's stream) and one for "model done with it" (recorded by
// the consumer on the model's stream). kPoolSize = queue depth + one being filled + one in the model,
// so a tensor is never refilled before the model has read it.
constexpr int kPoolSize = static_cast<int>(kQueueDepth) + 2;
struct DevicePool {
  std::vector<torch::Tensor> tensors;
  std::vector<uintptr_t> ready, done;
  int next = 0;
  ~DevicePool() {
    for (auto e : ready) cuda::event_destroy(e);
    for (auto e : done) cuda::event_destroy(e);
  }
};

// The first frame (row of the batch) whose model output holds a NaN or an infinity, and which of the
// two, or nothing when every floating-point value is finite. Walks tensors inside tuples, lists and
// dicts; a list of `n` per-image results (torchvision style) gives the row by its position.
std::optional<std::pair<int, const char*>> non_finite_output(const torch::jit::IValue& v, int n) {
  if (v.isTensor()) {
    const torch::Tensor& t = v.toTensor();
    if (!t.is_floating_point() || t.numel() == 0) return std::nullopt;
    const torch::Tensor bad = ~torch::isfinite(t);
    if (!bad.any().item<bool>()) return std::nullopt;
    const char* kind = torch::isnan(t).any().item<bool>() ? "NaN" : "Inf";
    int row = 0;
    if (t.dim() >= 1 && t.size(0) == n) row = static_cast<int>(bad.reshape({n, -1}).any(1).to(torch::kInt).argmax().item<int64_t>());
    return std::make_pair(row, kind);
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
  for (size_t i = 0; i < items.size(); ++i)
    if (auto bad = non_finite_output(items[i], n)) {
      if (per_image && !items[i].isTensor()) bad->first = static_cast<int>(i);
      return bad;
    }
  return std::nullopt;
}

void cuda_check(const char* err, const char* what) {
  if (*err) throw Error(what, "", err);
}

}  // namespace

struct Pipeline::Impl {
  RunOptions opt;
  torch::Device device;
  Model model;
  bool gpu_path;  // NVDEC + kernels available for this run
  DevicePool pool;
  std::atomic<bool> stop{false};       // the producer stops at the next packet
  std::atomic<bool> cancelled{false};  // cancel() was called

  explicit Impl(RunOptions o)
      : opt(std::move(o)),
        device(resolve_device(opt.device)),
        model(opt.model_path, device, opt.spec.dtype),
        gpu_path(device.is_cuda() && cuda::kernels_available() && opt.decoder != "cpu") {
    if (opt.decoder != "auto" && opt.decoder != "cpu" && opt.decoder != "gpu")
      throw Error("invalid decoder '" + opt.decoder + "'", "", "expected auto, cpu or gpu");
    if (opt.decoder == "gpu" && !gpu_path)
      throw Error("decoder 'gpu' is not available", "",
                  device.is_cuda() ? "this build has no CUDA kernels" : "the model is not on a GPU (--device)");
    if (device.is_cuda()) warm_up();
    if (gpu_path) {
      for (int i = 0; i < kPoolSize; ++i) {
        pool.tensors.push_back(torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width},
                                            torch::TensorOptions().device(device).dtype(to_scalar_type(opt.spec.dtype))));
        uintptr_t e = 0;
        cuda_check(cuda::event_create(&e), "cannot create a CUDA event");
        pool.ready.push_back(e);
        cuda_check(cuda::event_create(&e), "cannot create a CUDA event");
        pool.done.push_back(e);
      }
    }
  }

  // TorchScript's profiling executor optimises a graph over its first runs, and CUDA libraries load
  // their kernels on first use: on a GPU that takes up to a second. Done here, at load time, so that
  // the first batches of the run don't stall the pipeline. A model that fails here fails again,
  // with its error reported per input, in the run.
  void warm_up() {
    try {
      auto x = torch::zeros({opt.spec.batch, 3, opt.spec.height, opt.spec.width},
                            torch::TensorOptions().device(device).dtype(to_scalar_type(opt.spec.dtype)));
      for (int i = 0; i < 3; ++i) model.forward(x);
      uintptr_t ev = 0;
      if (!*cuda::event_create(&ev)) {
        cuda::event_record(ev, 0);
        cuda::event_synchronize(ev);
        cuda::event_destroy(ev);
      }
    } catch (const std::exception&) {
    }
  }

  // The decoder for one input: NVDEC when this run is on the GPU and NVDEC takes the stream, else
  // libavcodec, with the reason in its name.
  std::unique_ptr<Decoder> open_decoder(const StreamInfo& st, const std::string& path, std::string& note) {
    if (!gpu_path) return make_cpu_decoder(st, path, opt.decode_threads);
    // A pixel format FFmpeg could not tell (no software decoder for the codec here) is taken as 4:2:0;
    // the NVDEC parser reads the real one from the bitstream and refuses others.
    const auto fmt = static_cast<AVPixelFormat>(st.codecpar->format);
    const GpuDecodeSupport s = nvdec_supports(st.codecpar->codec_id, fmt == AV_PIX_FMT_NONE ? AV_PIX_FMT_YUV420P : fmt,
                                              st.codecpar->width, st.codecpar->height, device.index());
    if (s.supported) return make_nvdec_decoder(st, path, device.index());
    if (opt.decoder == "gpu") throw Error("cannot decode on the GPU", path, s.reason);
    note = "; GPU decoder not used: " + s.reason;
    return make_cpu_decoder(st, path, opt.decode_threads);
  }

  // Producer: all inputs, in order. Returns when done or when `stop` is set.
  void produce(const std::vector<std::string>& inputs, BoundedQueue<Item>& queue, StageTimes& times) {
    CpuPreprocessor pre(opt.spec);
    GpuPreprocessor gpre(opt.spec);
    bool on_device = false;  // the current input decodes on the GPU
    uintptr_t stream = 0;    // its decoder's CUDA stream
    const int64_t slot_bytes = 3 * static_cast<int64_t>(opt.spec.height) * opt.spec.width *
                               torch::elementSize(to_scalar_type(opt.spec.dtype));
    auto new_batch = [&](size_t input) {
      Batch b;
      b.input = input;
      if (on_device) {
        b.pool_index = pool.next;
        pool.next = (pool.next + 1) % kPoolSize;
        b.data = pool.tensors[b.pool_index];
        // Do not overwrite the tensor before the model has finished reading it.
        cuda_check(cuda::stream_wait_event(stream, pool.done[b.pool_index]), "cannot order CUDA work");
      } else {
        b.data = torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width}, torch::kFloat);
        if (device.is_cuda()) b.data = b.data.pin_memory();
      }
      b.slots.reserve(opt.spec.batch);
      return b;
    };
    auto push = [&](Batch&& b) {
      if (b.pool_index >= 0)
        cuda_check(cuda::event_record(pool.ready[b.pool_index], stream), "cannot record a CUDA event");
      return queue.push(std::move(b));
    };
    // VIDINFER_TRACE=1: one line per input on stderr with the times of its phases (for measuring).
    static const bool trace = [] {
      const char* v = std::getenv("VIDINFER_TRACE");
      return v && *v && std::string(v) != "0";
    }();
    std::thread reaper;
    for (size_t i = 0; i < inputs.size() && !stop; ++i) {
      const std::string& path = inputs[i];
      double t_open = 0, t_first = -1, t_last = 0;
      InputDone done;
      done.input = i;
      done.summary.input = path;
      const auto t0 = std::chrono::steady_clock::now();
      on_device = false;
      Batch batch;
      std::unique_ptr<Demuxer> demuxer;
      std::unique_ptr<Decoder> decoder;
      try {
        demuxer = std::make_unique<Demuxer>(path);
        Demuxer& demux = *demuxer;
        std::string note;
        decoder = open_decoder(demux.stream(), path, note);
        done.summary.decoder = decoder->name() + note;
        stream = decoder->cuda_stream();
        on_device = stream != 0;
        t_open = seconds_since(t0);
        batch = new_batch(i);
        const StreamInfo& st = demux.stream();
        const double frame_dur = st.frame_rate.num ? av_q2d(av_inv_q(st.frame_rate)) : 0.0;
        auto pkt = make_av_packet();
        auto frame = make_av_frame();
        int64_t index = 0, in_range = 0, processed = 0;
        double last_pts = st.start_time - frame_dur;
        bool finished = false;
        // Handles one decoded frame; false once the selection is exhausted.
        auto take = [&]() -> bool {
          const int64_t ts = frame->best_effort_timestamp;
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
          {
            ScopedTimer timer(times.preprocess);
            Slot s;
            s.frame_index = this_index;
            s.pts = pts;
            const auto k = static_cast<int64_t>(batch.slots.size());
            if (on_device) {
              s.geometry = gpre.run(frame.get(), reinterpret_cast<uintptr_t>(batch.data.data_ptr()) + k * slot_bytes, stream);
            } else {
              s.geometry = pre.run(frame.get(), batch.data[k].data_ptr<float>());
            }
            batch.slots.push_back(s);
          }
          batch.fraction = st.duration > 0 ? std::clamp(t / st.duration, 0.0, 1.0) : 0.0;
          ++processed;
          if (static_cast<int>(batch.slots.size()) == opt.spec.batch) {
            if (!push(std::move(batch))) return false;
            batch = new_batch(i);
          }
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
          {
            ScopedTimer timer(times.decode);
            decoder->send(pkt.get());
          }
          drain();
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
        t_last = seconds_since(t0);
        if (halted) {
          done.halted = true;
          if (!batch.slots.empty()) push(std::move(batch));  // what was decoded is still delivered
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
        if (!batch.slots.empty()) push(std::move(batch));
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
      // Closing a hardware decoder takes up to ~0.2 s: do it beside the next input's work.
      if (reaper.joinable()) reaper.join();
      reaper = std::thread([d = std::move(decoder), m = std::move(demuxer)]() mutable {
        d.reset();
        m.reset();
#ifdef __GLIBC__
        // Hand the input's freed buffers back to the system, so that host memory stays flat over
        // long runs of many inputs instead of creeping up with heap fragmentation.
        malloc_trim(0);
#endif
      });
      if (trace)
        std::fprintf(stderr, "vidinfer trace: %s: opened %.1f ms, first frame %.1f ms, last frame %.1f ms, finished %.1f ms\n",
                     path.c_str(), t_open * 1e3, t_first * 1e3, t_last * 1e3, done.summary.seconds * 1e3);
      queue.push(std::move(done));
    }
    queue.close();
    if (reaper.joinable()) reaper.join();
  }

  std::vector<FrameResult> postprocess(const torch::jit::IValue& out, const Batch& b, const std::string& input) {
    const int n = static_cast<int>(b.slots.size());
    std::vector<FrameResult> results(n);
    for (int k = 0; k < n; ++k) {
      results[k].input = input;
      results[k].frame_index = b.slots[k].frame_index;
      results[k].pts = b.slots[k].pts;
      results[k].width = b.slots[k].geometry.src_w;
      results[k].height = b.slots[k].geometry.src_h;
    }
    if (opt.task == Task::Classify) {
      ClassifyParams p{opt.topk, opt.spec.class_activation, opt.spec.label_offset};
      auto per = classify_head(out, n, p, opt.labels);
      for (int k = 0; k < n; ++k) results[k].classes = std::move(per[k]);
    } else {
      DetectParams p;
      p.layout = opt.spec.detect_layout;
      p.box_format = opt.spec.box_format;
      p.boxes_normalized = opt.spec.boxes_normalized;
      p.score_activation = opt.spec.score_activation;
      p.label_offset = opt.spec.label_offset;
      p.score_threshold = opt.score_threshold;
      p.iou_threshold = opt.iou_threshold;
      p.max_detections = opt.max_detections;
      std::vector<Geometry> geos;
      for (const auto& s : b.slots) geos.push_back(s.geometry);
      auto per = detect_head(out, geos, p, opt.labels);
      for (int k = 0; k < n; ++k) results[k].detections = std::move(per[k]);
    }
    return results;
  }
};

Pipeline::Pipeline(RunOptions options) {
  if (options.spec.batch < 1) throw Error("invalid batch size", "", "must be at least 1");
  if (options.selection.every < 1) throw Error("invalid --every", "", "must be at least 1");
  impl_ = std::make_unique<Impl>(std::move(options));
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
  RunSummary summary;
  summary.device = device();
  summary.model = impl_->opt.model_path;
  summary.inputs.resize(inputs.size());
  const auto t0 = std::chrono::steady_clock::now();

  BoundedQueue<Item> queue(kQueueDepth);
  std::atomic<bool>& stop = impl_->stop;
  stop = impl_->cancelled.load();
  StageTimes producer_times;
  std::thread producer([&] { impl_->produce(inputs, queue, producer_times); });

  ModelStream model_stream(impl_->device);  // this thread's LibTorch work goes on its own stream
  const uintptr_t ms = model_stream.handle();
  std::string model_error;  // set once the model fails: it would fail on every input alike
  std::vector<std::string> input_error(inputs.size());     // the model failed on this input only (NaN/Inf)
  std::vector<std::string> model_warnings(inputs.size());  // the out-of-memory back-off, where it happened
  int model_batch = impl_->opt.spec.batch;  // frames per model call; halved once on out-of-memory
  bool backed_off = false;
  std::vector<int64_t> processed(inputs.size(), 0);
  while (auto item = queue.pop()) {
    if (auto* b = std::get_if<Batch>(&*item)) {
      if (!model_error.empty() || !input_error[b->input].empty()) continue;
      const int n = static_cast<int>(b->slots.size());
      try {
        if (impl_->opt.skip_model) {  // measuring decode + preprocess: wait for the batch, emit nothing
          if (b->pool_index >= 0) cuda_check(cuda::event_synchronize(impl_->pool.ready[b->pool_index]), "CUDA");
          processed[b->input] += n;
          summary.frames += n;
          if (on_progress)
            on_progress(Progress{b->input, inputs.size(), inputs[b->input], b->fraction, summary.frames});
          continue;
        }
        {
          ScopedTimer timer(summary.stages.infer);
          // Order the model after the batch's kernels (on the decoder's stream).
          if (b->pool_index >= 0)
            cuda_check(cuda::stream_wait_event(ms, impl_->pool.ready[b->pool_index]), "cannot order CUDA work");
          else if (impl_->device.is_cuda())
            summary.host_to_device_bytes += b->data.element_size() * b->data[0].numel() * n;
        }
        // The batch goes through the model in chunks of model_batch frames (the whole batch unless an
        // out-of-memory error has lowered it).
        for (int off = 0; off < n && input_error[b->input].empty();) {
          const int len = std::min(model_batch, n - off);
          torch::jit::IValue out;
          try {
            ScopedTimer timer(summary.stages.infer);
            out = impl_->model.forward(off == 0 && len == b->data.size(0) ? b->data : b->data.narrow(0, off, len));
          } catch (const Error& e) {
            if (!is_out_of_memory(e)) throw;
            if (backed_off || len == 1)
              throw Error("model ran out of memory", impl_->opt.model_path,
                          "batch of " + std::to_string(len) + " frames" +
                              (backed_off ? " after halving the batch from " + std::to_string(impl_->opt.spec.batch) : "") +
                              " (" + e.cause() + ")");
            backed_off = true;
            model_batch = std::max(1, len / 2);
            model_warnings[b->input] = "model ran out of memory with a batch of " + std::to_string(len) +
                                       " frames; batch halved to " + std::to_string(model_batch) +
                                       " for the rest of the run (" + e.cause() + ")";
            std::fprintf(stderr, "vidinfer: warning: %s: %s\n", inputs[b->input].c_str(), model_warnings[b->input].c_str());
            continue;  // the same frames again, in smaller chunks
          }
          Batch chunk;
          chunk.input = b->input;
          chunk.slots.assign(b->slots.begin() + off, b->slots.begin() + off + len);
          if (const auto bad = non_finite_output(out, len)) {
            // Fails this input (its later batches are dropped), not the run: NaNs often depend on the
            // frames (a black frame and a division), so the next input may well be fine.
            input_error[b->input] = Error(std::string("model output has ") + bad->second, impl_->opt.model_path,
                                          "at frame " + std::to_string(chunk.slots[bad->first].frame_index) + " of " +
                                              inputs[b->input])
                                        .what();
            break;
          }
          std::vector<FrameResult> results;
          {
            ScopedTimer timer(summary.stages.postprocess);
            results = impl_->postprocess(out, chunk, inputs[b->input]);
          }
          for (const auto& r : results) on_frame(r);
          processed[b->input] += len;
          summary.frames += len;
          off += len;
        }
        if (b->pool_index >= 0)
          cuda_check(cuda::event_record(impl_->pool.done[b->pool_index], ms), "cannot record a CUDA event");
      } catch (const Error& e) {
        model_error = e.input().empty() ? e.with_input(impl_->opt.model_path).what() : e.what();
        stop = true;
      }
      if (on_progress)
        on_progress(Progress{b->input, inputs.size(), inputs[b->input], b->fraction, summary.frames});
    } else {
      auto& done = std::get<InputDone>(*item);
      InputSummary& s = summary.inputs[done.input];
      s = std::move(done.summary);
      s.frames_processed = processed[done.input];
      if (!model_warnings[done.input].empty())
        s.warning = s.warning.empty() ? model_warnings[done.input] : s.warning + "; " + model_warnings[done.input];
      if (!input_error[done.input].empty() && s.status == InputStatus::Ok) {
        s.status = InputStatus::Failed;
        s.error = input_error[done.input];
      }
      if (!model_error.empty() && (s.status == InputStatus::Ok || done.halted)) {
        s.status = InputStatus::Failed;
        s.error = model_error;
      }
      if (on_input) on_input(s);
      if (on_progress) on_progress(Progress{done.input, inputs.size(), s.input, 1.0, summary.frames});
    }
  }
  summary.seconds = seconds_since(t0);  // all results delivered; teardown below is not counted
  producer.join();
  // Inputs never reached because the model failed.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (summary.inputs[i].input.empty()) {
      summary.inputs[i].input = inputs[i];
      summary.inputs[i].status = InputStatus::Failed;
      summary.inputs[i].error = !model_error.empty()  ? model_error
                                : impl_->cancelled ? inputs[i] + ": not processed: interrupted"
                                : impl_->opt.stop_on_error
                                    ? inputs[i] + ": not processed: stopped after an earlier failure (--on-error fail)"
                                    : inputs[i] + ": not processed";
      if (on_input) on_input(summary.inputs[i]);
    }
  }
  summary.stages.demux = producer_times.demux;
  summary.stages.decode = producer_times.decode;
  summary.stages.preprocess = producer_times.preprocess;
  summary.fps = summary.seconds > 0 ? summary.frames / summary.seconds : 0;
  summary.interrupted = impl_->cancelled;
  return summary;
}

}  // namespace vidinfer
