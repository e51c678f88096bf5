// vidinfer bench (include/vidinfer/bench.h): run_bench, which runs every mode at every input length
// and measures each (the modes themselves are in bench/modes.cpp, the reports in bench/report.cpp),
// and write_looped_video, which makes the longer inputs.
#include "vidinfer/bench.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <torch/torch.h>

#include "bench/clock.h"
#include "bench/modes.h"
#include "bench/sampler.h"
#include "common/av.h"
#include "demux/demuxer.h"
#include "infer/device_info.h"
#include "infer/model.h"
#include "vidinfer/error.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

namespace fs = std::filesystem;
using bench::Clock;
using bench::ModeResult;
using bench::run_baseline;
using bench::run_model_only;
using bench::run_vidinfer;
using bench::Sampler;
using bench::since;
using bench::Top1;

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
  WorkDir(const std::string& given, const std::string& temp_root) {
    std::error_code ec;
    if (!given.empty()) {
      path = given;
      fs::create_directories(path, ec);
      if (ec) throw Error("cannot create the work directory", given, ec.message());
      return;
    }
    std::string templ = (temp_root.empty() ? std::string("/tmp") : temp_root) + "/vidinfer-bench-XXXXXX";
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

const std::set<std::string> kModes = {"baseline", "vidinfer", "preprocess", "decode", "model", "live"};

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
  // (By the "file:" protocol's name, as Demuxer opens files: a ':' in the name is not a protocol's.)
  if (!(out->oformat->flags & AVFMT_NOFILE))
    VI_AV_CHECK(avio_open(&out->pb, ("file:" + output).c_str(), AVIO_FLAG_WRITE), output);
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
      throw Error("unknown bench mode '" + m + "'", "", "expected baseline, vidinfer, preprocess, decode, model or live");
  for (int64_t len : b.lengths)
    if (len < 1) throw Error("invalid bench length " + std::to_string(len), "", "must be at least 1 frame");

}

namespace {

// The model the baseline and model modes share, loaded once for every length. Warmed up as the
// pipeline warms its own model when it loads it (TorchScript's profiling runs, CUDA libraries loading
// their kernels), so that no mode pays for it in its time.
std::unique_ptr<Model> load_shared_model(const BenchOptions& b, torch::Device dev) {
  auto model = load_model(b.run.model_path, dev, b.run.spec.dtype, b.run.cpu_threads);
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
  return model;
}

// The inputs at one length: each distinct input looped once into the work directory.
std::vector<std::string> inputs_at_length(const std::vector<std::string>& inputs, int64_t len, const fs::path& work) {
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
      const fs::path dst = work / (src.stem().string() + "-" + std::to_string(looped.size()) + "-" +
                                   std::to_string(len) + "f" + src.extension().string());
      write_looped_video(inputs[i], dst.string(), len);
      it = looped.emplace(inputs[i], dst.string()).first;
    }
    ins.push_back(it->second);
  }
  return ins;
}

// What the modes of one length share: its inputs, their frame count, the top-1 classes to compare.
struct Length {
  int64_t len = 0;
  std::vector<std::string> ins;
  int64_t frames_in_inputs = -1;
  Top1 base_top1, vid_top1;
  bool compare = false;
  double baseline_fps = 0;
};

// One mode at one length: its pipeline built (vidinfer's modes), then run and measured.
BenchRow run_mode(const BenchOptions& b, const std::string& mode, torch::Device dev, Model* model,
                  double model_setup, Length& l) {
  BenchRow row;
  row.length = l.len;
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
    o.skip_model = mode != "vidinfer" && mode != "live";
    o.skip_preprocess = mode == "decode";
    // Live: every input a camera sending in real time (its packets at their own times).
    if (mode == "live") o.live.pace_files = true;
    const auto t_setup = Clock::now();
    try {
      pipeline = std::make_unique<Pipeline>(o, l.ins);
    } catch (const Error& e) {
      r.errors.push_back(e.what());
    }
    row.setup_seconds = since(t_setup);
  }
  Sampler sampler(dev, base_gpu);
  try {
    if (mode == "baseline") {
      r = run_baseline(b.run, *model, l.ins, l.compare ? &l.base_top1 : nullptr);
    } else if (mode == "model") {
      if (l.frames_in_inputs < 0) {
        l.frames_in_inputs = 0;
        for (const auto& in : l.ins) l.frames_in_inputs += count_frames(in);
      }
      // As the pipeline runs its model: full batches replayed from CUDA graphs where they can be
      // recorded (not in the baseline, which launches as tutorials do).
      std::string why;
      if (b.run.tuning.cuda_graph)
        model->capture_graphs({b.run.spec.batch, 3, b.run.spec.height, b.run.spec.width}, &why);
      r = run_model_only(b.run, *model, l.frames_in_inputs);
    } else if (pipeline) {
      r = run_vidinfer(*pipeline, l.ins, mode == "vidinfer" && l.compare ? &l.vid_top1 : nullptr);
    }
  } catch (const Error& e) {
    r.errors.push_back(e.what());
  }
  if (model) model->release_graphs();
  sampler.finish();
  pipeline.reset();
  if (mode != "model" && mode != "live" && r.errors.empty()) l.frames_in_inputs = r.frames;
  row.frames = r.frames;
  row.seconds = r.seconds;
  row.fps = r.seconds > 0 ? static_cast<double>(r.frames) / r.seconds : 0;
  row.stages = r.stages;
  row.gpu_memory_mib = sampler.gpu_peak_mib();
  row.rss_mib = sampler.rss_peak_mib();
  row.cpu_cores = sampler.cpu_cores();
  row.note = r.decoder;
  for (const LiveSummary& s : r.live) {
    ++row.live_streams;
    row.live_realtime += s.frames_dropped == 0;
    row.live_dropped += s.frames_dropped;
    row.live_p50_ms = std::max(row.live_p50_ms, s.latency_p50 * 1e3);
    row.live_p99_ms = std::max(row.live_p99_ms, s.latency_p99 * 1e3);
  }
  if (r.live_all.count() > 0) row.live_p99_all_ms = r.live_all.quantile(0.99) * 1e3;
  if (r.live_settled.count() > 0) row.live_p99_settled_ms = r.live_settled.quantile(0.99) * 1e3;
  if (!r.errors.empty()) {
    row.failed = true;
    row.note = std::to_string(r.errors.size()) + " failed: " + r.errors.front();
  }
  if (mode == "baseline" && !row.failed) l.baseline_fps = row.fps;
  return row;
}

void log_row(const BenchRow& row, const std::function<void(const std::string&)>& log) {
  if (!log) return;
  char line[256];
  std::snprintf(line, sizeof line, "%s%s: %lld frames in %.2f s = %.1f fps%s",
                row.length ? (std::to_string(row.length) + " frames/input, ").c_str() : "", row.mode.c_str(),
                static_cast<long long>(row.frames), row.seconds, row.fps, row.failed ? " (FAILED)" : "");
  log(line + (row.failed ? ": " + row.note : std::string()));
}

// Speed-ups against this length's baseline, and the agreement of vidinfer's top-1 with it.
void compare_with_baseline(BenchReport& report, const Length& l) {
  for (auto& row : report.rows) {
    if (row.length != l.len) continue;
    if (l.baseline_fps > 0) row.speedup = row.fps / l.baseline_fps;
    if (row.mode == "vidinfer" && !l.base_top1.empty() && !l.vid_top1.empty()) {
      int64_t both = 0, same = 0;
      for (const auto& [key, cls] : l.vid_top1) {
        auto it = l.base_top1.find(key);
        if (it == l.base_top1.end()) continue;
        ++both;
        same += it->second == cls;
      }
      if (both) row.top1_agreement = static_cast<double>(same) / static_cast<double>(both);
    }
  }
}

}  // namespace

BenchReport run_bench(const BenchOptions& options, const std::vector<std::string>& inputs,
                      const std::function<void(const std::string&)>& log) {
  if (inputs.empty()) throw Error("nothing to benchmark", "", "no inputs");
  check_bench_options(options);
  const torch::Device dev = resolve_device(options.run.device);
  BenchOptions b = options;  // every mode runs the batch the pipeline would (RunOptions::cpu_batch)
  if (!dev.is_cuda() && b.run.cpu_batch > 0) b.run.spec.batch = b.run.cpu_batch;
  check_model_spec(b.run.spec, b.run.model_path);
  BenchReport report;
  report.machine = machine_description(dev);
  report.command = b.command;
  report.model = b.run.model_path;
  report.device = dev.str();
  report.dtype = to_string(b.run.spec.dtype);
  report.batch = b.run.spec.batch;
  report.inputs = inputs.size();

  WorkDir work(b.work_dir, b.temp_root);
  std::vector<int64_t> lengths = b.lengths.empty() ? std::vector<int64_t>{0} : b.lengths;
  const bool need_model = std::find(b.modes.begin(), b.modes.end(), "baseline") != b.modes.end() ||
                          std::find(b.modes.begin(), b.modes.end(), "model") != b.modes.end();
  std::unique_ptr<Model> model;
  double model_setup = 0;
  if (need_model) {
    const auto t_setup = Clock::now();
    model = load_shared_model(b, dev);
    model_setup = since(t_setup);
  }

  for (int64_t len : lengths) {
    Length l;
    l.len = len;
    l.ins = inputs_at_length(inputs, len, work.path);
    l.compare = b.run.task == Task::Classify;
    for (const std::string& mode : b.modes) {
      report.rows.push_back(run_mode(b, mode, dev, model.get(), model_setup, l));
      log_row(report.rows.back(), log);
    }
    compare_with_baseline(report, l);
  }
  return report;
}

}  // namespace vidinfer
