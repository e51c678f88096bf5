// vidinfer command line: argument parsing, defaults, and printing. The work is in the library.
#include <execinfo.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>


#include "environment.h"
#include "vidinfer/bench.h"
#include "vidinfer/error.h"
#include "vidinfer/pipeline.h"
#include "vidinfer/import.h"
#include "vidinfer/json_lines.h"
#include "vidinfer/logging.h"
#include "vidinfer/progress.h"
#include "vidinfer/probe.h"

namespace fs = std::filesystem;
using namespace vidinfer;

namespace {

constexpr int kExitOk = 0, kExitInputsFailed = 1, kExitUsage = 2, kExitInterrupted = 130;

// The run in progress, for the SIGINT/SIGTERM handler: the first signal asks it to stop cleanly
// (results so far are flushed and the output is closed); a second one ends the process at once.
std::atomic<Pipeline*> g_running{nullptr};
// VIDINFER_BACKTRACE=1: on a fatal signal, the call stack on stderr (for bug reports).
extern "C" void on_crash(int sig) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  const char msg[] = "vidinfer: fatal signal; call stack:\n";
  (void)!write(2, msg, sizeof msg - 1);
  backtrace_symbols_fd(frames, n, 2);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

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

struct RunArgs {
  std::string model, task, labels, out = "-", summary, inputs_from;
  std::vector<std::string> inputs;
  std::string input_size, resize, mean, std_, channels, dtype, detect_layout, box_format, score_activation,
      class_activation;
  int batch = 0, topk = 5, max_detections = 100, decode_threads = 0, letterbox_fill = -1, streams = 0, segments = 0;
  bool boxes_normalized = false, nvdec_resize = false;
  float score_threshold = 0.3f, iou_threshold = 0.5f;
  int64_t every = 1, max_frames = -1;
  double start = 0, end = -1;
  std::string device = "auto", decoder = "auto", on_error = "skip";
  int cpu_threads = 0;
  std::string annotate, annotate_frames;
  bool quiet = false, no_progress = false, skip_model = false, decode_only = false, resume = false,
       apply_rotation = false;
};

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
    if (!i.warning.empty()) std::fprintf(stderr, "vidinfer: warning: %s: %s\n", i.input.c_str(), i.warning.c_str());
  if (quiet) return;
  std::fprintf(stderr, "vidinfer: %zu input(s), %zu ok, %d failed%s; %lld frames in %.2f s = %.1f fps (model on %s)\n",
               s.inputs.size(), s.inputs.size() - failed - skipped, failed,
               skipped ? (", " + std::to_string(skipped) + " skipped (--resume)").c_str() : "",
               static_cast<long long>(s.frames), s.seconds, s.fps, s.device.c_str());
  std::fprintf(stderr, "  stage seconds: demux %.3f  decode %.3f  preprocess %.3f  infer %.3f  postprocess %.3f\n",
               s.stages.demux, s.stages.decode, s.stages.preprocess, s.stages.infer, s.stages.postprocess);
  for (const auto& i : s.inputs) {
    if (i.status == InputStatus::Skipped) {
      std::fprintf(stderr, "  %-6s %s: complete in the output already\n", "skip", i.input.c_str());
      continue;
    }
    std::fprintf(stderr, "  %-6s %s: %lld decoded, %lld processed, %lld corrupt packets%s%s\n",
                 i.status == InputStatus::Ok ? "ok" : "FAILED", i.input.c_str(),
                 static_cast<long long>(i.frames_decoded), static_cast<long long>(i.frames_processed),
                 static_cast<long long>(i.packets_corrupt), i.decoder.empty() ? "" : ", ", i.decoder.c_str());
  }
}

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
  opt.decode_threads = a.decode_threads;
  opt.streams = a.streams;
  opt.segments = a.segments;
  opt.cpu_threads = a.cpu_threads;
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
  return opt;
}

int do_run(RunArgs& a) {
  RunOptions opt;
  // Configuration: any error here is a usage error (exit 2) and nothing runs.
  std::vector<std::string> inputs;
  Resumed resumed;
  try {
    opt = make_run_options(a);
    inputs = a.inputs;
    if (!a.inputs_from.empty()) {
      auto more = read_list(a.inputs_from);
      inputs.insert(inputs.end(), more.begin(), more.end());
    }
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
    if (a.resume) resumed = read_resume(a.out);
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitUsage;
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

void print_probe_text(const ProbeInfo& p) {
  std::printf("%s\n", p.input.c_str());
  std::printf("  container      %s (video stream #%d)\n", p.container.c_str(), p.stream_index);
  std::printf("  codec          %s%s%s\n", p.codec.c_str(), p.profile.empty() ? "" : " ", p.profile.c_str());
  std::printf("  size           %dx%d\n", p.width, p.height);
  std::printf("  pixel format   %s (%d-bit)\n", p.pixel_format.c_str(), p.bit_depth);
  std::printf("  frame rate     %.3f fps\n", p.frame_rate);
  std::printf("  duration       %.3f s\n", p.duration);
  std::printf("  frames         %lld (%s)\n", static_cast<long long>(p.frame_count),
              p.frame_count_exact ? "counted" : "from the container");
  std::printf("  colour         matrix %s, range %s, primaries %s, transfer %s\n", p.color_matrix.c_str(),
              p.color_range.c_str(), p.color_primaries.c_str(), p.color_transfer.c_str());
  std::printf("  rotation       %g degrees\n", p.rotation);
  std::printf("  gpu decode     %s (%s)\n", p.gpu_decode ? "yes" : "no", p.gpu_reason.c_str());
}

struct BenchArgs {
  std::string modes = "baseline,vidinfer,preprocess,decode,model", frames, json, chart, work_dir;
  int copies = 1;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// vidinfer bench: the usual pipeline and vidinfer's on the same inputs, a table on stdout.
int do_bench(RunArgs& a, const BenchArgs& b, const std::string& command) {
  BenchOptions bo;
  std::vector<std::string> inputs;
  try {
    bo.run = make_run_options(a);
    bo.modes = split_list(b.modes);
    for (const auto& f : split_list(b.frames)) {
      char* end = nullptr;
      const long long n = std::strtoll(f.c_str(), &end, 10);
      if (*end || n < 1) throw Error("invalid --frames '" + b.frames + "'", "", "expected frame counts >= 1, comma-separated");
      bo.lengths.push_back(n);
    }
    check_bench_options(bo);
    bo.work_dir = b.work_dir;
    bo.command = command;
    if (a.inputs.empty()) throw Error("no inputs", "", "give the video files to benchmark");
    for (int c = 0; c < b.copies; ++c) inputs.insert(inputs.end(), a.inputs.begin(), a.inputs.end());
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitUsage;
  }
  try {
    BenchReport r = run_bench(bo, inputs, [&](const std::string& line) {
      if (!a.quiet) std::fprintf(stderr, "vidinfer bench: %s\n", line.c_str());
    });
    if (!b.json.empty()) write_file_atomically(b.json, bench_json(r));
    if (!b.chart.empty()) write_bench_chart(r, b.chart);
    std::printf("%s", bench_table(r).c_str());
    std::fflush(stdout);
    return r.any_failed() ? kExitInputsFailed : kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitInputsFailed;
  }
}

// The options that choose the model, its input contract and head, and where and how it runs: shared by
// run and bench.
void add_model_options(CLI::App* run, RunArgs& r) {
  run->add_option("--model", r.model, "TorchScript model (.pt); its settings from MODEL.pt.json if present "
                                      "(default: the bundled COCO detector; with --task classify the bundled "
                                      "colour-naming classifier)");
  run->add_option("--task", r.task, "classify | detect (default: the sidecar's, else classify; no --model: detect)");
  run->add_option("--labels", r.labels, "Class names, one per line (line i = class id i)");
  run->add_option("--input-size", r.input_size, "Model input size: N or WxH (default 224)");
  run->add_option("--resize", r.resize, "stretch | letterbox | center-crop (default stretch)");
  run->add_option("--letterbox-fill", r.letterbox_fill, "Pad value 0..255 for letterbox (default 114)")
      ->check(CLI::Range(0, 255));
  run->add_option("--mean", r.mean, "Per-channel mean on the 0..1 scale, in the model's channel order, 'a,b,c' or one "
                                    "value (default ImageNet 0.485,0.456,0.406)");
  run->add_option("--std", r.std_, "Per-channel std, in the model's channel order, 'a,b,c' or one value (default "
                                   "ImageNet 0.229,0.224,0.225)");
  run->add_option("--channels", r.channels, "rgb | bgr (default rgb)");
  run->add_option("--dtype", r.dtype, "float32 | float16 | bfloat16 (default float32)");
  run->add_option("--batch", r.batch, "Frames per model call (default 8)")->check(CLI::Range(1, 4096));
  run->add_option("--topk", r.topk, "Classes per frame (classify)")->check(CLI::PositiveNumber)->capture_default_str();
  run->add_option("--class-activation", r.class_activation, "softmax (output is logits) | sigmoid (multi-label logits) | none (probabilities)");
  run->add_option("--score-threshold,--min-score", r.score_threshold, "Minimum detection score")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  run->add_option("--iou-threshold", r.iou_threshold, "NMS IoU threshold (dense heads)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  run->add_option("--max-detections", r.max_detections, "Detections per frame at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run->add_option("--detect-layout", r.detect_layout, "boxes-scores-labels | dense | centernet (default boxes-scores-labels)");
  run->add_option("--box-format", r.box_format, "xyxy | xywh | cxcywh (default xyxy)");
  run->add_flag("--boxes-normalized", r.boxes_normalized, "Box coordinates are 0..1 of the model input");
  run->add_option("--score-activation", r.score_activation, "none | sigmoid | softmax on dense class scores");
  run->add_option("--device", r.device, "auto | cpu | cuda | cuda:N (where the model runs)")->capture_default_str();
  run->add_option("--decoder", r.decoder, "auto | cpu | gpu: auto decodes with NVDEC when the model is on a GPU "
                                        "and NVDEC takes the stream, else libavcodec")
      ->capture_default_str();
  run->add_flag("--nvdec-resize", r.nvdec_resize, "Resize frames to the model input's size while NVDEC decodes them "
                "(the driver's scaler; smaller surfaces to map and read), where that size is even and no larger "
                "than the frame. Its filter is not the antialiased bilinear of the CPU reference, so values (and "
                "results) differ slightly from the default GPU path. NVDEC only: not with --decoder cpu or "
                "--device cpu; inputs decoded by libavcodec are not affected");
  run->add_option("--decode-threads", r.decode_threads, "Decoder threads (0: all cores)")->check(CLI::NonNegativeNumber);
  run->add_option("--streams", r.streams, "Inputs (or segments) decoded at once, each on its own decoder, all filling "
                  "the same model batches (0: auto: NVDEC engines + 1 on the GPU path, 1 on the CPU path)")
      ->check(CLI::Range(0, 64));
  run->add_option("--segments", r.segments, "Split each input at keyframes into at most N segments decoded at once "
                  "(results stay in frame order; 0: auto: when there are fewer inputs than --streams, on the GPU "
                  "path; 1: never)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--cpu-threads", r.cpu_threads, "Threads the model uses when it runs on the CPU (0: every core "
                  "this process may run on; cap them here or with taskset)")
      ->check(CLI::Range(0, 1024));
}

}  // namespace

int main(int argc, char** argv) {
  set_media_log(MediaLog::Quiet);
  if (const char* bt = std::getenv("VIDINFER_BACKTRACE"); bt && *bt && std::string(bt) != "0") {
    std::signal(SIGSEGV, on_crash);
    std::signal(SIGABRT, on_crash);
    std::signal(SIGBUS, on_crash);
  }
  CLI::App app{"vidinfer: run PyTorch (TorchScript) models over video, frame by frame"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "vidinfer 0.1.0");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Show FFmpeg's own warnings");

  RunArgs r;
  auto* run = app.add_subcommand("run", "Run a model over every (or every N-th) frame of each input; JSON Lines out");
  run->add_option("inputs", r.inputs, "Video files (none: the bundled sample video)");
  run->add_option("--inputs-from", r.inputs_from, "Read input paths from a file, one per line (# comments)");
  add_model_options(run, r);
  run->add_option("-o,--out", r.out, "JSON Lines output file ('-': stdout)")->capture_default_str();
  run->add_option("--summary", r.summary, "Also write the run summary as JSON to this file");
  run->add_option("--every", r.every, "Process every N-th frame")->check(CLI::PositiveNumber);
  run->add_option("--start", r.start, "Skip frames before this time (seconds from the stream's start)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--end", r.end, "Stop at this time (seconds from the stream's start)")->check(CLI::NonNegativeNumber);
  run->add_option("--max-frames", r.max_frames, "At most this many processed frames per input")
      ->check(CLI::PositiveNumber);
  run->add_option("--on-error", r.on_error, "skip: a failed input is reported and the others run; fail: stop at the "
                                           "first failed input")
      ->capture_default_str();
  run->add_option("--annotate", r.annotate, "Write a video with boxes and labels drawn (task detect); {name} in "
                                            "the path: the input's file name without extension");
  run->add_option("--annotate-frames", r.annotate_frames, "Write a PNG with boxes and labels of every processed frame "
                                                          "into this directory (choose frames with --every, --start, "
                                                          "--end, --max-frames)");
  run->add_flag("--no-model", r.skip_model, "Decode and preprocess only, write no results (to measure those stages)");
  run->add_flag("--decode-only", r.decode_only, "Decode only (no preprocessing, no model), write no results (to measure the decoders)");
  run->add_flag("--apply-rotation", r.apply_rotation, "Turn frames as the stream's rotation metadata says (a quarter "
                                                     "turn at a time) before the model; results are in the turned "
                                                     "frame's coordinates");
  run->add_flag("--resume", r.resume, "With -o FILE: skip the inputs whose complete results FILE already holds "
                                      "(from an earlier run), keep their lines, and run the others");
  run->add_flag("-q,--quiet", r.quiet, "Print errors and warnings only");
  run->add_flag("--no-progress", r.no_progress, "No progress bar");


  RunArgs br;
  BenchArgs ba;
  auto* bench_cmd = app.add_subcommand("bench", "Time the usual pipeline (CPU decode, RGB on the CPU, a copy per frame) "
                                                "against vidinfer's on the same inputs and model; a table on stdout");
  bench_cmd->add_option("inputs", br.inputs, "Video files")->required();
  add_model_options(bench_cmd, br);
  bench_cmd->add_option("--modes", ba.modes, "Comma-separated, run in this order: baseline, vidinfer, preprocess "
                                             "(vidinfer without the model), decode (vidinfer decode only), model "
                                             "(the model alone on a constant batch)")
      ->capture_default_str();
  bench_cmd->add_option("--frames", ba.frames, "Frames per input, comma-separated (e.g. 960,5520,9300): each input "
                                               "looped (packets copied, no re-encode) to each length; default: as given");
  bench_cmd->add_option("--copies", ba.copies, "Give each input this many times (separate inputs decoded at once)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  bench_cmd->add_option("--json", ba.json, "Write the results as JSON to this file");
  bench_cmd->add_option("--chart", ba.chart, "Write a bar chart of fps per mode and length (PNG) to this file");
  bench_cmd->add_option("--work-dir", ba.work_dir, "Keep the looped inputs in this directory (default: a temporary one, removed)");
  bench_cmd->add_flag("-q,--quiet", br.quiet, "Print the table only");

  std::vector<std::string> probe_inputs;
  bool probe_json = false;
  auto* probe_cmd = app.add_subcommand("probe", "Describe the video stream of each input");
  probe_cmd->add_option("inputs", probe_inputs, "Video files")->required();
  probe_cmd->add_flag("--json", probe_json, "One JSON object per input (JSON Lines)");

  std::string import_json, import_out, import_provenance;
  std::vector<std::string> import_outputs;
  auto* import_cmd = app.add_subcommand("import-tfjs", "Convert a TensorFlow.js graph model (model.json + shards) "
                                                      "to TorchScript");
  import_cmd->add_option("model_json", import_json, "The TF.js model.json (weight shards next to it)")->required();
  import_cmd->add_option("out", import_out, "The TorchScript file to write (.pt)")->required();
  import_cmd->add_option("--output", import_outputs, "Node to cut the graph at (repeat; default: its signature "
                                                     "outputs); returned in this order");
  import_cmd->add_option("--provenance", import_provenance, "Text stored in the model (where it came from, licence)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vidinfer: error: %s\nRun 'vidinfer --help' or 'vidinfer %s --help' for usage.\n", e.what(),
                 run->parsed()          ? "run"
                 : bench_cmd->parsed()  ? "bench"
                 : probe_cmd->parsed()  ? "probe"
                 : import_cmd->parsed() ? "import-tfjs"
                                        : "COMMAND");
    return kExitUsage;
  }
  if (verbose) set_media_log(MediaLog::Warnings);

  if (run->parsed()) return do_run(r);
  if (bench_cmd->parsed()) {
    std::string command = "vidinfer";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    return do_bench(br, ba, command);
  }
  if (import_cmd->parsed()) {
    try {
      import_tfjs(import_json, import_out, import_outputs, import_provenance);
      std::fprintf(stderr, "vidinfer: wrote %s\n", import_out.c_str());
      return kExitOk;
    } catch (const Error& e) {
      std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
      return kExitInputsFailed;
    }
  }

  int failed = 0;
  for (const auto& in : probe_inputs) {
    try {
      const ProbeInfo p = probe(in);
      if (probe_json) {
        std::printf("%s\n", vidinfer::probe_json(p).c_str());
      } else {
        print_probe_text(p);
      }
      std::fflush(stdout);
    } catch (const Error& e) {
      ++failed;
      std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    }
  }
  return failed ? kExitInputsFailed : kExitOk;
}
