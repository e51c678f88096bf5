// vidinfer run (run_command.h): the command-line values made into RunOptions over the model's sidecar,
// the bundled data found, the output resumed, the pipeline run with a progress bar and the summary
// printed.
#include "run_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "environment.h"
#include "shard_flag.h"
#include "exit_codes.h"
#include "vidinfer/error.h"
#include "vidinfer/json_lines.h"
#include "vidinfer/pipeline.h"
#include "vidinfer/progress.h"
#include "vidinfer/shard.h"

namespace vidinfer::cli {
namespace {

namespace fs = std::filesystem;

// The run in progress, for the SIGINT/SIGTERM handler: the first signal asks it to stop cleanly
// (results so far are flushed and the output is closed); a second one ends the process at once.
std::atomic<Pipeline*> g_running{nullptr};

extern "C" void on_signal(int sig) {
  if (Pipeline* p = g_running.load()) p->cancel();
  std::signal(sig, SIG_DFL);
}

// Bundled data (default model, sample video): $VIDINFER_DATA_DIR, else <exe dir>/../share/vidinfer,
// which holds in the build tree and in an installed prefix alike.
fs::path data_dir() {
  if (const char* env = std::getenv("VIDINFER_DATA_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / "share" / "vidinfer";
}
const char* kDefaultDetector = "models/centernet.pt";
const char* kDefaultClassifier = "models/colour-namer.pt";
const char* kSampleVideo = "samples/sample.mp4";

std::vector<float> parse_floats(const std::string& s, const char* flag) {
  std::vector<float> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stof(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error(std::string("invalid ") + flag + " '" + s + "'", "", "expected numbers separated by commas");
    }
  }
  if (out.size() == 1) out.resize(3, out[0]);
  if (out.size() != 3) throw Error(std::string("invalid ") + flag + " '" + s + "'", "", "expected 1 or 3 numbers");
  return out;
}

std::vector<std::string> read_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read input list", path, "file not found or unreadable");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    out.push_back(line.substr(start));
  }
  return out;
}

// What an earlier run left in the output file, for --resume.
struct Resumed {
  std::vector<std::string> kept;      // the lines of complete inputs, verbatim, in file order
  std::set<std::string> complete;     // inputs whose last end-of-input record says "ok"
  std::string note;                   // a warning to print (a cut-off last line)
};

// Reads OUT for --resume. Absent: nothing is complete. A last line cut off (no newline, not JSON) is
// ignored: the input it belongs to has no end-of-input record after it and is run again. Any other
// line that is not a JSON object with an "input" is damage we cannot reason about: an error.
Resumed read_resume(const std::string& path) {
  Resumed r;
  if (access(path.c_str(), F_OK) != 0) return r;  // (not std::filesystem: see vidinfer/json_lines.h)
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot resume", path, "the file is unreadable");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::pair<std::string, std::string>> lines;  // (input, line)
  std::map<std::string, bool> last_status_ok;
  size_t pos = 0, number = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const bool has_newline = nl != std::string::npos;
    std::string line = text.substr(pos, has_newline ? nl - pos : std::string::npos);
    pos = has_newline ? nl + 1 : text.size();
    ++number;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      if (!has_newline) {
        r.note = "the last line of " + path + " (line " + std::to_string(number) +
                 ") is cut off and was dropped; its input is run again";
        break;
      }
      throw Error("cannot resume", path,
                  "line " + std::to_string(number) + " is not valid JSON (the file is damaged; remove it to start over)");
    }
    if (!j.is_object() || !j.contains("input") || !j["input"].is_string())
      throw Error("cannot resume", path,
                  "line " + std::to_string(number) + " is not a vidinfer result (no \"input\")");
    const std::string input = j["input"].get<std::string>();
    if (j.value("end_of_input", false)) last_status_ok[input] = j.value("status", std::string()) == "ok";
    lines.emplace_back(input, std::move(line));
  }
  for (const auto& [input, ok] : last_status_ok)
    if (ok) r.complete.insert(input);
  for (auto& [input, line] : lines)
    if (r.complete.count(input)) r.kept.push_back(std::move(line));
  return r;
}

void print_summary(const RunSummary& s, bool quiet) {
  const int failed = s.failed_inputs();
  int skipped = 0;
  for (const auto& i : s.inputs) skipped += i.status == InputStatus::Skipped;
  for (const auto& i : s.inputs)
    if (i.status == InputStatus::Failed) std::fprintf(stderr, "vidinfer: error: %s\n", i.error.c_str());
  for (const auto& i : s.inputs)
    if (!i.warning.empty()) std::fprintf(stderr, "vidinfer: warning: %s: %s\n", shown_input(i.input).c_str(), i.warning.c_str());
  if (quiet) return;
  std::fprintf(stderr, "vidinfer: %zu input(s), %zu ok, %d failed%s; %lld frames in %.2f s = %.1f fps (model on %s)\n",
               s.inputs.size(), s.inputs.size() - failed - skipped, failed,
               skipped ? (", " + std::to_string(skipped) + " skipped (--resume)").c_str() : "",
               static_cast<long long>(s.frames), s.seconds, s.fps, s.device.c_str());
  for (const auto& d : s.devices)
    std::fprintf(stderr, "  %s: %lld frames in %.2f s = %.1f fps\n", d.device.c_str(), static_cast<long long>(d.frames),
                 d.seconds, d.fps);
  std::fprintf(stderr, "  stage seconds: demux %.3f  decode %.3f  preprocess %.3f  infer %.3f  postprocess %.3f\n",
               s.stages.demux, s.stages.decode, s.stages.preprocess, s.stages.infer, s.stages.postprocess);
  for (const auto& i : s.inputs) {
    if (i.status == InputStatus::Skipped) {
      std::fprintf(stderr, "  %-6s %s: complete in the output already\n", "skip", shown_input(i.input).c_str());
      continue;
    }
    std::fprintf(stderr, "  %-6s %s: %lld decoded, %lld processed, %lld corrupt packets%s%s%s\n",
                 i.status == InputStatus::Ok ? "ok" : "FAILED", shown_input(i.input).c_str(),
                 static_cast<long long>(i.frames_decoded), static_cast<long long>(i.frames_processed),
                 static_cast<long long>(i.packets_corrupt), i.decoder.empty() ? "" : ", ", i.decoder.c_str(),
                 i.device.empty() ? "" : (" on " + i.device).c_str());
    if (i.live)
      std::fprintf(stderr, "         live: %lld received, %lld processed, %lld dropped, %d reconnects (%.1f s without data); "
                   "latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n",
                   static_cast<long long>(i.live->frames_received), static_cast<long long>(i.live->frames_processed),
                   static_cast<long long>(i.live->frames_dropped), i.live->reconnects, i.live->gap_seconds,
                   i.live->latency_p50 * 1e3, i.live->latency_p95 * 1e3, i.live->latency_p99 * 1e3);
  }
}

}  // namespace

// RunOptions from the command line; throws vidinfer::Error on a bad value (a usage error).
RunOptions make_run_options(const RunArgs& a) {
  RunOptions opt;
  // No --model: the bundled COCO detector, or with --task classify the bundled colour classifier.
  const bool default_model = a.model.empty();
  if (default_model)
    opt.model_path = (data_dir() / (a.task == "classify" ? kDefaultClassifier : kDefaultDetector)).string();
  else
    opt.model_path = a.model;
  Sidecar side = load_model_sidecar(opt.model_path);
  opt.spec = side.spec;
  opt.labels = side.labels;
  opt.task = a.task.empty() ? side.task.value_or(Task::Classify) : parse_task(a.task);
  if (!a.labels.empty()) opt.labels = load_labels(a.labels);
  ModelSpec& s = opt.spec;
  if (!a.input_size.empty()) {
    int w = 0, h = 0;
    char extra = 0;
    if (std::sscanf(a.input_size.c_str(), "%dx%d%c", &w, &h, &extra) != 2) {
      h = std::sscanf(a.input_size.c_str(), "%d%c", &w, &extra) == 1 ? w : 0;
    }
    if (w <= 0 || h <= 0 || w > 8192 || h > 8192)
      throw Error("invalid --input-size '" + a.input_size + "'", "", "expected N or WxH, 1..8192");
    s.width = w;
    s.height = h;
  }
  if (!a.resize.empty()) s.resize = parse_resize_mode(a.resize);
  if (a.letterbox_fill >= 0) s.letterbox_fill = a.letterbox_fill;
  if (!a.mean.empty()) {
    auto m = parse_floats(a.mean, "--mean");
    s.mean = {m[0], m[1], m[2]};
  }
  if (!a.std_.empty()) {
    auto m = parse_floats(a.std_, "--std");
    if (m[0] == 0 || m[1] == 0 || m[2] == 0) throw Error("invalid --std '" + a.std_ + "'", "", "must not be 0");
    s.std = {m[0], m[1], m[2]};
  }
  if (!a.channels.empty()) s.channels = parse_channels(a.channels);
  if (!a.dtype.empty()) s.dtype = parse_dtype(a.dtype);
  if (a.batch > 0) s.batch = a.batch;
  if (!a.class_activation.empty()) s.class_activation = parse_activation(a.class_activation);
  if (!a.detect_layout.empty()) s.detect_layout = parse_detect_layout(a.detect_layout);
  if (!a.box_format.empty()) s.box_format = parse_box_format(a.box_format);
  if (a.boxes_normalized) s.boxes_normalized = true;
  if (!a.score_activation.empty()) s.score_activation = parse_activation(a.score_activation);
  opt.topk = a.topk;
  opt.score_threshold = a.score_threshold;
  opt.iou_threshold = a.iou_threshold;
  opt.max_detections = a.max_detections;
  opt.selection.every = a.every;
  opt.selection.start = a.start;
  if (a.end >= 0) {
    if (a.end <= a.start) throw Error("invalid --end", "", "must be after --start");
    opt.selection.end = a.end;
  }
  opt.selection.max_frames = a.max_frames;
  opt.device = Device::parse(a.device);
  if (!a.devices.empty()) {
    opt.devices = parse_devices(a.devices);
    opt.device = opt.devices.front();
  }
  opt.decode_threads = a.decode_threads;
  opt.streams = a.streams;
  opt.cpu_threads = a.cpu_threads;
  // An explicit --batch holds on the CPU too; else 1, or the smallest batch the model takes.
  opt.cpu_batch = a.batch > 0 ? a.batch : std::max(1, s.min_batch);
  opt.segments = a.segments;
  opt.decoder = parse_decoder_choice(a.decoder);
  opt.tuning = tuning_from_environment();
  if (a.nvdec_resize && (opt.decoder == DecoderChoice::Cpu || opt.device == Device::cpu()))
    throw Error("--nvdec-resize needs the GPU decoder", "",
                a.decoder == "cpu" ? "not with --decoder cpu" : "not with --device cpu");
  opt.nvdec_resize = a.nvdec_resize;
  opt.skip_model = a.skip_model || a.decode_only;
  opt.skip_preprocess = a.decode_only;
  if (a.on_error != "skip" && a.on_error != "fail")
    throw Error("invalid --on-error '" + a.on_error + "'", "", "expected skip or fail");
  opt.stop_on_error = a.on_error == "fail";
  opt.apply_rotation = a.apply_rotation;
  opt.live.duration = a.duration;
  opt.live.drop = parse_live_drop(a.live_drop);
  opt.live.max_batch_wait = a.max_batch_wait_ms / 1e3;
  opt.live.max_lag = a.max_lag;
  opt.live.reconnect = a.reconnect;
  opt.live.stall_timeout = a.stall_timeout;
  opt.live.rtsp_transport = a.rtsp_transport;
  opt.live.pace_files = a.live_pace;
  opt.live.pace_stagger = a.pace_stagger;
  return opt;
}

int do_run(RunArgs& a) {
  RunOptions opt;
  // Configuration: any error here is a usage error (exit 2) and nothing runs.
  std::vector<std::string> inputs;
  std::optional<ResolvedShard> shard;
  size_t listed = 0;  // the inputs of the whole list, before --shard
  Resumed resumed;
  try {
    opt = make_run_options(a);
    inputs = a.inputs;
    if (!a.inputs_from.empty()) {
      auto more = read_list(a.inputs_from);
      inputs.insert(inputs.end(), more.begin(), more.end());
    }
    if (!a.shard.empty()) shard = shard_from_flag(a.shard);
    if (a.resume && (a.out.empty() || a.out == "-"))
      throw Error("--resume needs -o FILE", "", "it resumes the results already in that file");
    if (inputs.empty()) {
      if (!a.inputs_from.empty()) throw Error("no inputs", a.inputs_from, "the list is empty");
      inputs.push_back((data_dir() / kSampleVideo).string());
      if (!a.quiet)
        std::fprintf(stderr, "vidinfer: no input given; running the bundled sample video %s\n", inputs.back().c_str());
    }
    opt.annotate_video = a.annotate;
    opt.annotate_frames_dir = a.annotate_frames;
    if (!a.annotate.empty() || !a.annotate_frames.empty()) {
      if (opt.task != Task::Detect) throw Error("--annotate needs --task detect");
      if (a.skip_model) throw Error("--annotate needs the model (not --no-model)");
      if (a.apply_rotation) throw Error("--annotate draws on frames as decoded: not with --apply-rotation");
      if (!a.annotate.empty() && inputs.size() > 1 && a.annotate.find("{name}") == std::string::npos)
        throw Error("invalid --annotate", a.annotate,
                    std::to_string(inputs.size()) + " inputs need one video each: put {name} in the path");
      std::error_code ec;
      if (!a.annotate_frames.empty() && !fs::is_directory(a.annotate_frames, ec))
        throw Error("invalid --annotate-frames", a.annotate_frames, "not a directory");
    }
    // The shard is taken from the whole list (positional inputs, then --inputs-from's), before
    // --resume looks at what this shard's output holds already.
    listed = inputs.size();
    if (shard) inputs = shard_inputs(inputs, shard->spec);
    if (a.resume) resumed = read_resume(a.out);
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitUsage;
  }
  if (shard) {
    const std::string name = std::to_string(shard->spec.index) + "/" + std::to_string(shard->spec.count) +
                             (shard->source.empty() ? "" : " (" + shard->source + ")");
    if (inputs.empty())  // not an error (a job array may have more tasks than inputs), but worth a line
      std::fprintf(stderr,
                   "vidinfer: shard %s has no inputs: the list has %zu, and shard I of N takes inputs I, I+N, I+2N, "
                   "... (counting from 0); nothing to run\n",
                   name.c_str(), listed);
    else if (!a.quiet)
      std::fprintf(stderr, "vidinfer: shard %s: %zu of %zu input(s)\n", name.c_str(), inputs.size(), listed);
  }
  std::vector<std::string> to_run;
  for (const auto& in : inputs)
    if (!resumed.complete.count(in)) to_run.push_back(in);
  if (!resumed.note.empty()) std::fprintf(stderr, "vidinfer: warning: %s\n", resumed.note.c_str());
  if (a.resume && !a.quiet)
    std::fprintf(stderr, "vidinfer: resuming %s: %zu of %zu input(s) complete there already, %zu to run\n",
                 a.out.c_str(), inputs.size() - to_run.size(), inputs.size(), to_run.size());

  std::unique_ptr<Pipeline> pipeline;
  try {
    pipeline = std::make_unique<Pipeline>(opt, to_run);
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitUsage;
  }
  if (!a.quiet && a.model.empty())
    std::fprintf(stderr, "vidinfer: default model %s: %s\n", opt.model_path.c_str(),
                 opt.task == Task::Detect
                     ? "CenterNet (MobileNetV3) COCO detector, 80 classes, from @vladmandic/human 3.3.6 (MIT)"
                     : "a colour-naming classifier (the share of each frame's pixels nearest each of 12 "
                       "colours; not a learned model)");

  try {
    JsonlWriter out(a.out);
    const bool live = opt.live.pace_files || std::any_of(to_run.begin(), to_run.end(), [](const std::string& in) {
                        return in == "-" || in.rfind("pipe:", 0) == 0 || in.find("://") != std::string::npos;
                      });
    out.flush_each_line(live);
    ProgressBar bar;
    const bool show_progress = !a.quiet && !a.no_progress && bar.enabled();
    g_running = pipeline.get();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    for (const auto& line : resumed.kept) out.write_line(line);
    RunSummary ran;
    if (!to_run.empty()) {
      ran = pipeline->run(
          to_run, [&](const FrameResult& r) { out.write_line(frame_json(r, opt.task)); },
          [&](const Progress& p) {
            if (show_progress) bar.update(p);
          },
          [&](const InputSummary& s) {
            if (!opt.skip_model) out.write_line(end_of_input_json(s));
          });
    } else {
      ran.device = pipeline->device();
      ran.model = opt.model_path;
    }
    g_running = nullptr;
    // The summary lists every input given, in order; those complete from an earlier run as skipped.
    RunSummary summary = ran;
    summary.inputs.clear();
    size_t next = 0;
    for (const auto& in : inputs) {
      if (resumed.complete.count(in)) {
        InputSummary skipped;
        skipped.input = in;
        skipped.status = InputStatus::Skipped;
        summary.inputs.push_back(std::move(skipped));
      } else {
        summary.inputs.push_back(ran.inputs.at(next++));
      }
    }
    if (shard) summary.shard = ShardSummary{shard->spec.index, shard->spec.count, inputs.size(), listed};
    bar.finish();
    out.close();
    if (!a.summary.empty()) write_file_atomically(a.summary, summary_json(summary) + "\n");
    print_summary(summary, a.quiet);
    if (summary.interrupted) {
      std::fprintf(stderr, "vidinfer: interrupted: results so far are in the output\n");
      return kExitInterrupted;
    }
    return summary.failed_inputs() ? kExitInputsFailed : kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitInputsFailed;
  }
}

}  // namespace vidinfer::cli
