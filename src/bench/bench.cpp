// vidinfer bench (include/vidinfer/bench.h): the usual pipeline against vidinfer's, in one process.
//
// The baseline below is written the way tutorials write a video inference loop, on purpose: it is
// the thing the product is measured against, so it is kept plain (libavcodec with its default
// threading, swscale to RGB24, one host-to-device copy per frame, LibTorch ops to resize and
// normalise, torch::cat into a batch) and not optimised. It uses the same model wrapper, precision
// and task head as the pipeline, so both compute the same thing.
#include "vidinfer/bench.h"

#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include "bench/chart.h"
#include "common/av.h"
#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "infer/device_info.h"
#include "output/annotate.h"
#include "infer/model.h"
#include "infer/model_stream.h"
#include "common/cuda.h"
#include "infer/model_trace.h"
#include "postprocess/heads.h"
#include "preprocess/geometry.h"
#include "vidinfer/error.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double rss_mib_now() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

// Samples device memory in use and this process's RSS every 20 ms while a mode runs.
class Sampler {
 public:
  // `base_gpu`: the device memory in use before the mode's pipeline (or model graph) was made.
  Sampler(torch::Device device, int64_t base_gpu) : device_(device) {
    base_gpu_ = base_gpu;
    cpu0_ = cpu_seconds();
    t0_ = Clock::now();
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        lock.unlock();
        sample();
        lock.lock();
        cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stop_; });
      }
    });
  }
  ~Sampler() { finish(); }
  void finish() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    sample();
    cpu_ = cpu_seconds() - cpu0_;
    wall_ = since(t0_);
  }
  double gpu_peak_mib() const { return base_gpu_ < 0 ? -1 : static_cast<double>(peak_gpu_ - base_gpu_) / (1 << 20); }
  double rss_peak_mib() const { return peak_rss_; }
  double cpu_cores() const { return wall_ > 0 ? cpu_ / wall_ : 0; }

 private:
  void sample() {
    const int64_t g = cuda_memory_used(device_);
    peak_gpu_ = std::max(peak_gpu_, g);
    peak_rss_ = std::max(peak_rss_, rss_mib_now());
  }
  torch::Device device_;
  int64_t base_gpu_ = -1, peak_gpu_ = -1;
  double peak_rss_ = 0, cpu0_ = 0, cpu_ = 0, wall_ = 0;
  Clock::time_point t0_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Top-1 class per (input, frame index), to compare the baseline with vidinfer.
using Top1 = std::map<std::pair<std::string, int64_t>, int>;

struct ModeResult {
  int64_t frames = 0;
  double seconds = 0;
  std::vector<std::pair<std::string, double>> stages;
  std::vector<std::string> errors;
  std::string decoder;
};

// The usual pipeline (see the file comment).
ModeResult run_baseline(const RunOptions& o, Model& model, const std::vector<std::string>& inputs, Top1* top1) {
  const ModelSpec& spec = o.spec;
  const torch::Device dev = model.device();
  double t_demux = 0, t_decode = 0, t_rgb = 0, t_copy = 0, t_prep = 0, t_infer = 0, t_post = 0;
  ModeResult r;
  torch::NoGradGuard no_grad;
  const auto fopt = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  const torch::Tensor mean = torch::tensor({spec.mean[0], spec.mean[1], spec.mean[2]}, fopt).view({3, 1, 1});
  const torch::Tensor stdv = torch::tensor({spec.std[0], spec.std[1], spec.std[2]}, fopt).view({3, 1, 1});
  const auto start = Clock::now();
  for (const std::string& path : inputs) {
    std::vector<torch::Tensor> pending;
    std::vector<Geometry> geos;
    std::vector<int64_t> indices;
    auto flush = [&] {
      if (pending.empty()) return;
      auto t = Clock::now();
      torch::jit::IValue out = model.forward(torch::cat(pending));
      cuda_synchronize(dev);
      t_infer += since(t);
      t = Clock::now();
      if (o.task == Task::Classify) {
        auto per = classify_head(out, static_cast<int>(pending.size()),
                                 classify_params(o), o.labels);
        if (top1)
          for (size_t k = 0; k < per.size(); ++k)
            if (!per[k].empty()) (*top1)[{path, indices[k]}] = per[k][0].class_id;
      } else {
        detect_head(out, geos, detect_params(o), o.labels);
      }
      t_post += since(t);
      r.frames += static_cast<int64_t>(pending.size());
      pending.clear();
      geos.clear();
      indices.clear();
    };
    try {
      Demuxer demux(path);
      auto dec = make_cpu_decoder(demux.stream(), path, o.decode_threads);
      if (r.decoder.empty()) r.decoder = dec->name();
      UniqueAVPacket pkt = make_av_packet();
      UniqueAVFrame frame = make_av_frame();
      SwsContext* sws_raw = nullptr;
      UniqueSwsContext sws;
      std::vector<uint8_t> rgb;
      int64_t index = 0;
      bool more = true;
      while (true) {
        auto t = Clock::now();
        if (more) more = demux.read(pkt.get());
        t_demux += since(t);
        t = Clock::now();
        dec->send(more ? pkt.get() : nullptr);
        av_packet_unref(pkt.get());
        bool got = false;
        while (dec->receive(frame.get())) {
          got = true;
          t_decode += since(t);
          const int w = frame->width, h = frame->height;
          // RGB24 on the CPU.
          t = Clock::now();
          sws_raw = sws_getCachedContext(sws.release(), w, h, static_cast<AVPixelFormat>(frame->format), w, h,
                                         AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
          sws.reset(sws_raw);
          if (!sws) throw Error("cannot convert to RGB", path, "swscale refused the frame's format");
          rgb.resize(static_cast<size_t>(w) * h * 3);
          uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
          int dst_stride[4] = {w * 3, 0, 0, 0};
          sws_scale(sws.get(), frame->data, frame->linesize, 0, h, dst, dst_stride);
          t_rgb += since(t);
          // One copy per frame to the model's device.
          t = Clock::now();
          torch::Tensor x = torch::from_blob(rgb.data(), {h, w, 3}, torch::kUInt8).to(dev);
          t_copy += since(t);
          // Resize and normalise with LibTorch.
          t = Clock::now();
          const Geometry g = plan_geometry(w, h, spec);
          x = x.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0);
          x = torch::nn::functional::interpolate(
              x, torch::nn::functional::InterpolateFuncOptions()
                     .size(std::vector<int64_t>{g.scaled_h, g.scaled_w})
                     .mode(torch::kBilinear)
                     .align_corners(false));
          if (g.scaled_w != g.dst_w || g.scaled_h != g.dst_h || g.offset_x != 0 || g.offset_y != 0) {
            torch::Tensor canvas = torch::full({1, 3, g.dst_h, g.dst_w}, spec.letterbox_fill / 255.0, fopt);
            const int x0 = std::max(0, g.offset_x), y0 = std::max(0, g.offset_y);
            const int x1 = std::min(g.dst_w, g.offset_x + g.scaled_w), y1 = std::min(g.dst_h, g.offset_y + g.scaled_h);
            canvas.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0)
                .copy_(x.narrow(2, y0 - g.offset_y, y1 - y0).narrow(3, x0 - g.offset_x, x1 - x0));
            x = canvas;
          }
          if (spec.channels == ChannelOrder::BGR) x = x.flip({1});
          x = (x - mean) / stdv;
          t_prep += since(t);
          pending.push_back(x);
          geos.push_back(g);
          indices.push_back(index++);
          av_frame_unref(frame.get());
          if (static_cast<int>(pending.size()) == spec.batch) flush();
          t = Clock::now();
        }
        if (!got) t_decode += since(t);
        if (!more) break;
      }
      flush();
    } catch (const Error& e) {
      r.errors.push_back(e.what());
    }
  }
  r.seconds = since(start);
  r.stages = {{"demux", t_demux}, {"decode", t_decode}, {"rgb", t_rgb}, {"copy", t_copy},
              {"preprocess", t_prep}, {"infer", t_infer}, {"postprocess", t_post}};
  return r;
}

ModeResult run_vidinfer(Pipeline& p, const std::vector<std::string>& inputs, Top1* top1) {
  ModeResult r;
  std::mutex mu;
  const auto start = Clock::now();
  RunSummary s = p.run(inputs, [&](const FrameResult& f) {
    if (top1 && !f.classes.empty()) {
      std::lock_guard lock(mu);
      (*top1)[{f.input, f.frame_index}] = f.classes[0].class_id;
    }
  });
  r.seconds = since(start);
  r.frames = s.frames;
  r.stages = {{"demux", s.stages.demux}, {"decode", s.stages.decode}, {"preprocess", s.stages.preprocess},
              {"infer", s.stages.infer}, {"postprocess", s.stages.postprocess}};
  std::set<std::string> decoders;
  for (const auto& i : s.inputs) {
    if (i.status == InputStatus::Failed) r.errors.push_back(i.error);
    decoders.insert(i.decoder);
  }
  for (const auto& d : decoders) r.decoder += (r.decoder.empty() ? "" : " | ") + d;
  return r;
}

// The model alone: the same number of frames as a constant batch on the model's device, in the
// model's precision, through the same head (its results to the host), on a stream like the pipeline's.
ModeResult run_model_only(const RunOptions& o, Model& model, int64_t frames) {
  ModeResult r;
  torch::NoGradGuard no_grad;
  ModelStream stream(model.device(), 0, o.tuning.stream_priority);
  ModelTrace mt(stream.handle(), o.tuning.trace);
  const torch::Tensor batch = torch::rand({o.spec.batch, 3, o.spec.height, o.spec.width},
                                          torch::TensorOptions().device(model.device()))
                                  .to(to_scalar_type(o.spec.dtype));
  const std::vector<Geometry> geos(o.spec.batch, plan_geometry(1920, 1080, o.spec));
  // As the pipeline runs the model (its ModelRunner): the head of a batch runs once the next
  // batch's forward is queued, on a second stream that waits for its own forward.
  const uintptr_t head_stream =
      o.tuning.overlap_head ? head_cuda_stream(model.device(), stream.handle(), o.tuning.stream_priority) : 0;
  const bool overlap = head_stream != 0;
  cuda::Event forwarded[2];
  if (overlap)
    for (auto& e : forwarded) e = cuda::Event::make();
  struct Out {
    torch::jit::IValue out;
    int n = 0, slot = 0;
    const cuda::Event* event = nullptr;
  };
  std::optional<Out> prev;
  double t_infer = 0, t_post = 0;
  const auto head = [&](Out& x) {
    const auto t = Clock::now();
    std::optional<ModelStream> hs;
    if (x.event) {
      hs.emplace(model.device(), head_stream);
      cuda::wait(hs->handle(), *x.event);
    }
    if (o.task == Task::Classify) {
      classify_head(x.out, x.n, classify_params(o), o.labels);
    } else {
      detect_head(x.out, std::vector<Geometry>(geos.begin(), geos.begin() + x.n), detect_params(o), o.labels);
    }
    t_post += since(t);
    mt.collect(x.slot);
    ++mt.batches;
    mt.frames += x.n;
  };
  cuda_synchronize(model.device());
  const auto start = Clock::now();
  int64_t k = 0;
  for (int64_t done = 0; done < frames; done += o.spec.batch, ++k) {
    Out cur;
    cur.n = static_cast<int>(std::min<int64_t>(o.spec.batch, frames - done));
    const auto t = Clock::now();
    cur.slot = mt.before_forward();
    cur.out = model.forward(cur.n == o.spec.batch ? batch : batch.narrow(0, 0, cur.n));
    mt.after_forward(cur.slot);
    t_infer += since(t);
    if (prev) head(*prev);
    prev.reset();
    if (overlap) {
      cur.event = &forwarded[k % 2];
      cur.event->record(stream.handle());
      prev = std::move(cur);
    } else {
      head(cur);
    }
  }
  if (prev) head(*prev);
  cuda_synchronize(model.device());
  r.seconds = since(start);
  r.frames = frames;
  mt.forward = t_infer;
  mt.post = t_post;
  mt.print(overlap ? "model only (head overlapping the next forward)" : "model only");
  r.stages = {{"infer", t_infer}, {"postprocess", t_post}};
  return r;
}

// Counts the video packets of an input (one frame each for the codecs we decode).
int64_t count_frames(const std::string& path) {
  Demuxer d(path);
  UniqueAVPacket pkt = make_av_packet();
  int64_t n = 0;
  while (d.read(pkt.get())) {
    ++n;
    av_packet_unref(pkt.get());
  }
  return n;
}

std::string machine_description(torch::Device dev) {
  std::string cpu;
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string gpu = cuda_device_description(dev);
  return (gpu.empty() ? std::string("no GPU") : gpu) + "; " + (cpu.empty() ? "CPU" : cpu) + ", " +
         std::to_string(std::thread::hardware_concurrency()) + " cores; host " + host;
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

// A directory removed when the bench ends (unless the caller named it). Made with mkdtemp and removed
// with nftw, not std::filesystem: PyTorch 2.11's libtorch.so exports a remove_all of its own that
// crashes and wins at dynamic link time (seen on the GPU machine).
struct WorkDir {
  fs::path path;
  bool owned = false;
  explicit WorkDir(const std::string& given) {
    std::error_code ec;
    if (!given.empty()) {
      path = given;
      fs::create_directories(path, ec);
      if (ec) throw Error("cannot create the work directory", given, ec.message());
      return;
    }
    const char* tmp = std::getenv("TMPDIR");  // the system's convention for scratch space, not a knob
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/vidinfer-bench-XXXXXX";
    if (!mkdtemp(templ.data())) throw Error("cannot create a temporary directory", templ, std::strerror(errno));
    path = templ;
    owned = true;
  }
  ~WorkDir() {
    if (owned) nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
};

const std::set<std::string> kModes = {"baseline", "vidinfer", "preprocess", "decode", "model"};

}  // namespace

void write_looped_video(const std::string& input, const std::string& output, int64_t frames) {
  if (frames < 1) throw Error("cannot loop", input, "the length must be at least 1 frame");
  Demuxer d(input);
  const StreamInfo& in = d.stream();
  std::vector<UniqueAVPacket> packets;
  int64_t first = AV_NOPTS_VALUE, end = AV_NOPTS_VALUE;
  for (;;) {
    UniqueAVPacket p = make_av_packet();
    if (!d.read(p.get())) break;
    const int64_t ts = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
    if (ts != AV_NOPTS_VALUE) {
      first = first == AV_NOPTS_VALUE ? ts : std::min(first, ts);
      end = end == AV_NOPTS_VALUE ? ts + std::max<int64_t>(p->duration, 0) : std::max(end, ts + std::max<int64_t>(p->duration, 0));
    }
    packets.push_back(std::move(p));
  }
  if (packets.empty()) throw Error("cannot loop", input, "no video packets");
  if (first == AV_NOPTS_VALUE) throw Error("cannot loop", input, "its packets have no timestamps");
  int64_t span = end - first;
  // Containers that leave packet durations out: one more frame's worth past the last timestamp.
  if (packets.back()->duration <= 0 && packets.size() > 1) span = span * static_cast<int64_t>(packets.size()) /
                                                                  static_cast<int64_t>(packets.size() - 1);
  if (span <= 0) throw Error("cannot loop", input, "its timestamps do not advance");
  // Matroska (and other pts-only containers) give packets no decode timestamp; muxers need rising
  // ones. The k-th packet's dts: the k-th smallest pts, shifted so that no dts exceeds its pts.
  const bool all_pts = std::all_of(packets.begin(), packets.end(), [](const UniqueAVPacket& p) { return p->pts != AV_NOPTS_VALUE; });
  if (all_pts && std::any_of(packets.begin(), packets.end(), [](const UniqueAVPacket& p) { return p->dts == AV_NOPTS_VALUE; })) {
    std::vector<int64_t> sorted;
    for (const auto& p : packets) sorted.push_back(p->pts);
    std::sort(sorted.begin(), sorted.end());
    int64_t shift = 0;
    for (size_t k = 0; k < packets.size(); ++k) shift = std::max(shift, sorted[k] - packets[k]->pts);
    for (size_t k = 0; k < packets.size(); ++k) packets[k]->dts = sorted[k] - shift;
  }

  AVFormatContext* raw = nullptr;
  VI_AV_CHECK(avformat_alloc_output_context2(&raw, nullptr, nullptr, output.c_str()), output);
  UniqueAVOutputContext out(raw);
  AVStream* st = avformat_new_stream(out.get(), nullptr);
  if (!st) throw Error("cannot add a stream", output, "out of memory");
  VI_AV_CHECK(avcodec_parameters_copy(st->codecpar, in.codecpar), output);
  st->codecpar->codec_tag = 0;
  st->time_base = in.time_base;
  if (!(out->oformat->flags & AVFMT_NOFILE)) VI_AV_CHECK(avio_open(&out->pb, output.c_str(), AVIO_FLAG_WRITE), output);
  VI_AV_CHECK(avformat_write_header(out.get(), nullptr), output);
  UniqueAVPacket p = make_av_packet();
  const int64_t n = static_cast<int64_t>(packets.size());
  for (int64_t i = 0; i < frames; ++i) {
    VI_AV_CHECK(av_packet_ref(p.get(), packets[i % n].get()), output);
    const int64_t shift = (i / n) * span;
    if (p->pts != AV_NOPTS_VALUE) p->pts += shift;
    if (p->dts != AV_NOPTS_VALUE) p->dts += shift;
    p->stream_index = 0;
    p->pos = -1;
    av_packet_rescale_ts(p.get(), in.time_base, st->time_base);
    VI_AV_CHECK(av_interleaved_write_frame(out.get(), p.get()), output);
  }
  VI_AV_CHECK(av_write_trailer(out.get()), output);
}

void check_bench_options(const BenchOptions& b) {
  if (b.modes.empty()) throw Error("nothing to benchmark", "", "no modes");
  for (const auto& m : b.modes)
    if (!kModes.count(m))
      throw Error("unknown bench mode '" + m + "'", "", "expected baseline, vidinfer, preprocess, decode or model");
  for (int64_t len : b.lengths)
    if (len < 1) throw Error("invalid bench length " + std::to_string(len), "", "must be at least 1 frame");

}

BenchReport run_bench(const BenchOptions& b, const std::vector<std::string>& inputs,
                      const std::function<void(const std::string&)>& log) {
  if (inputs.empty()) throw Error("nothing to benchmark", "", "no inputs");
  check_bench_options(b);
  const torch::Device dev = resolve_device(b.run.device);
  BenchReport report;
  report.machine = machine_description(dev);
  report.command = b.command;
  report.model = b.run.model_path;
  report.device = dev.str();
  report.dtype = to_string(b.run.spec.dtype);
  report.batch = b.run.spec.batch;
  report.inputs = inputs.size();

  WorkDir work(b.work_dir);
  std::vector<int64_t> lengths = b.lengths.empty() ? std::vector<int64_t>{0} : b.lengths;
  const bool need_model = std::find(b.modes.begin(), b.modes.end(), "baseline") != b.modes.end() ||
                          std::find(b.modes.begin(), b.modes.end(), "model") != b.modes.end();
  std::unique_ptr<Model> model;
  double model_setup = 0;
  if (need_model) {
    const auto t_setup = Clock::now();
    model = std::make_unique<Model>(b.run.model_path, dev, b.run.spec.dtype, b.run.cpu_threads);
    // Warmed up as the pipeline warms its own model when it loads it (TorchScript's profiling runs,
    // CUDA libraries loading their kernels), so that no mode pays for it in its time.
    if (dev.is_cuda()) {
      try {
        torch::NoGradGuard no_grad;
        const auto x = torch::zeros({b.run.spec.batch, 3, b.run.spec.height, b.run.spec.width},
                                    torch::TensorOptions().device(dev).dtype(to_scalar_type(b.run.spec.dtype)));
        for (int i = 0; i < 3; ++i) model->forward(x);
        cuda_synchronize(dev);
      } catch (const Error&) {  // fails again, and is reported, in the modes
      }
    }
    model_setup = since(t_setup);
  }

  for (int64_t len : lengths) {
    // The inputs at this length: each distinct input looped once into the work directory.
    std::vector<std::string> ins;
    std::map<std::string, std::string> looped;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (len == 0) {
        ins.push_back(inputs[i]);
        continue;
      }
      auto it = looped.find(inputs[i]);
      if (it == looped.end()) {
        const fs::path src(inputs[i]);
        const fs::path dst = work.path / (src.stem().string() + "-" + std::to_string(looped.size()) + "-" +
                                          std::to_string(len) + "f" + src.extension().string());
        write_looped_video(inputs[i], dst.string(), len);
        it = looped.emplace(inputs[i], dst.string()).first;
      }
      ins.push_back(it->second);
    }
    int64_t frames_in_inputs = -1;
    Top1 base_top1, vid_top1;
    const bool compare = b.run.task == Task::Classify;
    double baseline_fps = 0;
    for (const std::string& mode : b.modes) {
      BenchRow row;
      row.length = len;
      row.mode = mode;
      release_cached_cuda_memory();
      // GPU memory counts from here: the pipeline's own model, buffers, sessions and CUDA graph too.
      const int64_t base_gpu = cuda_memory_used(dev);
      ModeResult r;
      // vidinfer's modes: the pipeline (its model loaded and warmed up) is built before the
      // measurement starts, as the baseline's and the model mode's model is.
      // Given the inputs, as the command line does: it makes their NVDEC sessions while its model
      // loads (row.setup_seconds, reported beside the run's time).
      std::unique_ptr<Pipeline> pipeline;
      row.setup_seconds = model_setup;
      if (mode != "baseline" && mode != "model") {
        RunOptions o = b.run;
        o.skip_model = mode != "vidinfer";
        o.skip_preprocess = mode == "decode";
        const auto t_setup = Clock::now();
        try {
          pipeline = std::make_unique<Pipeline>(o, ins);
        } catch (const Error& e) {
          r.errors.push_back(e.what());
        }
        row.setup_seconds = since(t_setup);
      }
      Sampler sampler(dev, base_gpu);
      try {
        if (mode == "baseline") {
          r = run_baseline(b.run, *model, ins, compare ? &base_top1 : nullptr);
        } else if (mode == "model") {
          if (frames_in_inputs < 0) {
            frames_in_inputs = 0;
            for (const auto& in : ins) frames_in_inputs += count_frames(in);
          }
          // As the pipeline runs its model: full batches replayed from CUDA graphs where they can be
          // recorded (not in the baseline, which launches as tutorials do).
          std::string why;
          if (b.run.tuning.cuda_graph)
            model->capture_graphs({b.run.spec.batch, 3, b.run.spec.height, b.run.spec.width}, &why);
          r = run_model_only(b.run, *model, frames_in_inputs);
        } else if (pipeline) {
          r = run_vidinfer(*pipeline, ins, mode == "vidinfer" && compare ? &vid_top1 : nullptr);
        }
      } catch (const Error& e) {
        r.errors.push_back(e.what());
      }
      if (model) model->release_graphs();
      sampler.finish();
      pipeline.reset();
      if (mode != "model" && r.errors.empty()) frames_in_inputs = r.frames;
      row.frames = r.frames;
      row.seconds = r.seconds;
      row.fps = r.seconds > 0 ? static_cast<double>(r.frames) / r.seconds : 0;
      row.stages = r.stages;
      row.gpu_memory_mib = sampler.gpu_peak_mib();
      row.rss_mib = sampler.rss_peak_mib();
      row.cpu_cores = sampler.cpu_cores();
      row.note = r.decoder;
      if (!r.errors.empty()) {
        row.failed = true;
        row.note = std::to_string(r.errors.size()) + " failed: " + r.errors.front();
      }
      if (mode == "baseline" && !row.failed) baseline_fps = row.fps;
      report.rows.push_back(row);
      if (log) {
        char line[256];
        std::snprintf(line, sizeof line, "%s%s: %lld frames in %.2f s = %.1f fps%s",
                      len ? (std::to_string(len) + " frames/input, ").c_str() : "", mode.c_str(),
                      static_cast<long long>(row.frames), row.seconds, row.fps, row.failed ? " (FAILED)" : "");
        log(line + (row.failed ? ": " + row.note : std::string()));
      }
    }
    // Speed-ups against this length's baseline, and the agreement of vidinfer's top-1 with it.
    for (auto& row : report.rows) {
      if (row.length != len) continue;
      if (baseline_fps > 0) row.speedup = row.fps / baseline_fps;
      if (row.mode == "vidinfer" && !base_top1.empty() && !vid_top1.empty()) {
        int64_t both = 0, same = 0;
        for (const auto& [key, cls] : vid_top1) {
          auto it = base_top1.find(key);
          if (it == base_top1.end()) continue;
          ++both;
          same += it->second == cls;
        }
        if (both) row.top1_agreement = static_cast<double>(same) / static_cast<double>(both);
      }
    }
  }
  return report;
}

std::string bench_table(const BenchReport& r) {
  std::ostringstream o;
  char line[512];
  o << "machine: " << r.machine << "\n";
  if (!r.command.empty()) o << "command: " << r.command << "\n";
  o << "model: " << r.model << " (" << r.dtype << ", batch " << r.batch << ", on " << r.device << "); "
    << r.inputs << " input(s)\n";
  std::snprintf(line, sizeof line, "%-8s %-10s %8s %8s %9s %8s %8s %8s %5s %6s  %s\n", "length", "mode", "frames",
                "seconds", "fps", "speedup", "gpuMiB", "rssMiB", "cpu", "setup", "stage seconds");
  o << line;
  for (const auto& row : r.rows) {
    std::string stages;
    for (const auto& [name, s] : row.stages) {
      if (s <= 0) continue;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", stages.empty() ? "" : ", ", name.c_str(), s);
      stages += buf;
    }
    if (row.top1_agreement >= 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "; top-1 = baseline's on %.1f%%", row.top1_agreement * 100);
      stages += buf;
    }
    if (row.failed) stages += "; " + row.note;
    const std::string len = row.length ? std::to_string(row.length) : "as given";
    char speed[32] = "-";
    if (row.speedup > 0) std::snprintf(speed, sizeof speed, "%.2fx", row.speedup);
    const std::string gpu = row.gpu_memory_mib >= 0 ? std::to_string(std::lround(row.gpu_memory_mib)) : "-";
    std::snprintf(line, sizeof line, "%-8s %-10s %8lld %8.2f %9.1f %8s %8s %8ld %5.2f %6.2f  %s\n", len.c_str(),
                  row.mode.c_str(), static_cast<long long>(row.frames), row.seconds, row.fps, speed,
                  gpu.c_str(), std::lround(row.rss_mib), row.cpu_cores, row.setup_seconds, stages.c_str());
    o << line;
  }
  return o.str();
}

std::string bench_json(const BenchReport& r) {
  nlohmann::json j;
  j["machine"] = r.machine;
  j["command"] = r.command;
  j["model"] = r.model;
  j["device"] = r.device;
  j["dtype"] = r.dtype;
  j["batch"] = r.batch;
  j["inputs"] = r.inputs;
  j["rows"] = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json x;
    x["length"] = row.length;
    x["mode"] = row.mode;
    x["frames"] = row.frames;
    x["seconds"] = row.seconds;
    x["setup_seconds"] = row.setup_seconds;
    x["fps"] = row.fps;
    x["speedup"] = row.speedup > 0 ? nlohmann::json(row.speedup) : nlohmann::json();
    x["stages_seconds"] = nlohmann::json::object();
    for (const auto& [name, s] : row.stages) x["stages_seconds"][name] = s;
    x["gpu_memory_mib"] = row.gpu_memory_mib >= 0 ? nlohmann::json(row.gpu_memory_mib) : nlohmann::json();
    x["rss_mib"] = row.rss_mib;
    x["cpu_cores"] = row.cpu_cores;
    if (row.top1_agreement >= 0) x["top1_agreement"] = row.top1_agreement;
    x["note"] = row.note;
    x["failed"] = row.failed;
    j["rows"].push_back(x);
  }
  return j.dump(2) + "\n";
}

void write_bench_chart(const BenchReport& r, const std::string& path) {
  BarChart c;
  c.title = "vidinfer bench: " + fs::path(r.model).filename().string() + ", " + r.dtype + ", batch " +
            std::to_string(r.batch) + ", " + std::to_string(r.inputs) + " input(s), " + r.device;
  c.y_label = "frames per second";
  std::vector<int64_t> lengths;
  for (const auto& row : r.rows) {
    if (std::find(lengths.begin(), lengths.end(), row.length) == lengths.end()) lengths.push_back(row.length);
    if (std::find(c.series.begin(), c.series.end(), row.mode) == c.series.end()) c.series.push_back(row.mode);
  }
  for (int64_t len : lengths) {
    c.groups.push_back(len ? std::to_string(len) + " frames/input" : "inputs as given");
    std::vector<double> v(c.series.size(), std::nan(""));
    for (const auto& row : r.rows)
      if (row.length == len && !row.failed)
        v[std::find(c.series.begin(), c.series.end(), row.mode) - c.series.begin()] = row.fps;
    c.values.push_back(v);
  }
  const RgbImage img = render_bar_chart(c);
  // FFmpeg's PNG encoder (compressed: kilobytes) where this FFmpeg has one; else our uncompressed
  // writer (the GPU machine's FFmpeg kit has no encoders; see bench/chart.h).
  if (avcodec_find_encoder(AV_CODEC_ID_PNG))
    write_png(path, img.rgb.data(), img.width, img.height, img.width * 3);
  else
    write_png(path, img);
}

}  // namespace vidinfer
