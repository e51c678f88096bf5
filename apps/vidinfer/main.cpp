// vidinfer command line: the commands and their options wired with CLI11, fatal-signal backtraces,
// and vidinfer probe's text. The run and bench commands are in run_command.cpp and bench_command.cpp;
// the work is in the library.
#include <execinfo.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_command.h"
#include "environment.h"
#include "exit_codes.h"
#include "run_command.h"
#include "vidinfer/error.h"
#include "vidinfer/import.h"
#include "vidinfer/json_lines.h"
#include "vidinfer/logging.h"
#include "vidinfer/probe.h"

using namespace vidinfer;
using namespace vidinfer::cli;

namespace {

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

void print_probe_text(const ProbeInfo& p) {
  std::printf("%s\n", p.input.c_str());
  std::printf("  container      %s (video stream #%d)\n", p.container.c_str(), p.stream_index);
  std::printf("  codec          %s%s%s\n", p.codec.c_str(), p.profile.empty() ? "" : " ", p.profile.c_str());
  std::printf("  size           %dx%d\n", p.width, p.height);
  std::printf("  pixel format   %s (%d-bit)\n", p.pixel_format.c_str(), p.bit_depth);
  std::printf("  frame rate     %.3f fps\n", p.frame_rate);
  if (p.duration > 0)
    std::printf("  duration       %.3f s\n", p.duration);
  else
    std::printf("  duration       unknown\n");
  if (p.live)
    std::printf("  frames         unknown (a live stream: not counted)\n");
  else
    std::printf("  frames         %lld (%s)\n", static_cast<long long>(p.frame_count),
                p.frame_count_exact ? "counted" : "from the container");
  std::printf("  colour         matrix %s, range %s, primaries %s, transfer %s\n", p.color_matrix.c_str(),
              p.color_range.c_str(), p.color_primaries.c_str(), p.color_transfer.c_str());
  std::printf("  rotation       %g degrees\n", p.rotation);
  std::printf("  gpu decode     %s (%s)\n", p.gpu_decode ? "yes" : "no", p.gpu_reason.c_str());
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
  run->add_option("--batch", r.batch, "Frames per model call (default: the sidecar's, else 8; 1 when the model runs on the CPU)")->check(CLI::Range(1, 4096));
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
  auto* device_opt = run->add_option("--device", r.device, "auto | cpu | cuda | cuda:N (where the model runs)")->capture_default_str();
  run->add_option("--devices", r.devices,
                  "cuda:0,cuda:1,... | all: one engine per GPU (its own model replica, batch pool and NVDEC "
                  "sessions, --streams decoders each), all fed from one list of inputs and segments; results "
                  "in the same order as on one GPU; the summary names each input's GPU and each GPU's fps")
      ->excludes(device_opt);
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

// Paced files (run --live-pace, bench --live) start spread over this many seconds (LiveOptions::pace_stagger).
CLI::Option* add_pace_stagger(CLI::App* cmd, RunArgs& r) {
  return cmd->add_option("--pace-stagger", r.pace_stagger, "Seconds over which the paced files' starts are spread "
                                                          "(simulated cameras not all in phase); 0: all at once")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
}

// Options for live inputs (URLs, pipes, --live-pace files).
void add_live_options(CLI::App* run, RunArgs& r) {
  const char* group = "Live inputs";
  run->add_option("--duration", r.duration, "Seconds each live input runs (wall clock, from its opening; 0: until "
                                            "it ends or the run is interrupted)")
      ->check(CLI::NonNegativeNumber)->group(group);
  run->add_option("--live-drop", r.live_drop, "when-full: drop (and count) a live frame when the model is behind and "
                                              "no batch slot is free, so latency stays bounded; none: wait (no drops, "
                                              "latency grows)")
      ->capture_default_str()->group(group);
  run->add_option("--max-batch-wait", r.max_batch_wait_ms, "Milliseconds a batch holding live frames waits to fill "
                                                           "before it goes to the model")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  run->add_option("--max-lag", r.max_lag, "Seconds a live stream may fall behind its own clock (decoders or model "
                                          "too slow) before it skips to its next keyframe, with --live-drop "
                                          "when-full (the skipped frames count as dropped); 0: never")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  run->add_option("--reconnect", r.reconnect, "Attempts in a row to reconnect a lost live stream (back-off 0.5 s "
                                              "doubling to 8 s) before it is given up; 0: never; -1: for ever")
      ->check(CLI::Range(-1, 1000000))->capture_default_str()->group(group);
  run->add_option("--stall-timeout", r.stall_timeout, "Seconds without data before a live stream counts as lost")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  run->add_option("--rtsp-transport", r.rtsp_transport, "tcp | udp")->capture_default_str()->group(group);
  auto* pace = run->add_flag("--live-pace", r.live_pace, "Read the files as live cameras: each frame no sooner than "
                                                         "its own time (to simulate cameras without a network)")
                   ->group(group);
  add_pace_stagger(run, r)->group(group)->needs(pace);
}

// vidinfer run's arguments and options.
CLI::App* add_run_command(CLI::App& app, RunArgs& r) {
  auto* run = app.add_subcommand("run", "Run a model over every (or every N-th) frame of each input; JSON Lines out");
  run->add_option("inputs", r.inputs, "Video files, or live streams: rtsp://, udp://, srt://, http(s):// (HLS too), "
                                      "'-' for standard input (none: the bundled sample video)");
  run->add_option("--inputs-from", r.inputs_from, "Read input paths from a file, one per line (# comments)");
  run->add_option("--shard", r.shard, "I/N: run shard I of N of the inputs (I from 0; round-robin: inputs I, I+N, "
                                      "I+2N, ... of the list), for job arrays. auto: from a Slurm job array "
                                      "(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT); "
                                      "auto/N: index SLURM_ARRAY_TASK_ID or a Kubernetes Indexed Job's "
                                      "JOB_COMPLETION_INDEX, of N")
      ->type_name("I/N|auto|auto/N");
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
  add_live_options(run, r);
  return run;
}

// vidinfer bench's arguments and options (the model's into `br`, as run's).
CLI::App* add_bench_command(CLI::App& app, RunArgs& br, BenchArgs& ba) {
  auto* bench_cmd = app.add_subcommand("bench", "Time the usual pipeline (CPU decode, RGB on the CPU, a copy per frame) "
                                                "against vidinfer's on the same inputs and model; a table on stdout");
  bench_cmd->add_option("inputs", br.inputs, "Video files")->required();
  add_model_options(bench_cmd, br);
  auto* modes = bench_cmd->add_option("--modes", ba.modes, "Comma-separated, run in this order: baseline, vidinfer, preprocess "
                                             "(vidinfer without the model), decode (vidinfer decode only), model "
                                             "(the model alone on a constant batch), live (vidinfer with every input "
                                             "a camera sending in real time: with --copies N, how many streams hold "
                                             "real time without drops, and their latency)")
      ->capture_default_str();
  bench_cmd->add_option("--frames", ba.frames, "Frames per input, comma-separated (e.g. 960,5520,9300): each input "
                                               "looped (packets copied, no re-encode) to each length; default: as given");
  auto* copies = bench_cmd->add_option("--copies", ba.copies, "Give each input this many times (separate inputs decoded at once)")
                     ->check(CLI::Range(1, 512))
                     ->capture_default_str();
  bench_cmd
      ->add_option("--live", ba.live, "N simulated cameras: each input given N times, each paced in real time by its own "
                                      "timestamps (the same as --modes live --copies N); the table says how many held "
                                      "real time without drops, and the worst stream's latency p50/p99")
      ->check(CLI::Range(1, 512))
      ->excludes(copies)
      ->excludes(modes);
  add_pace_stagger(bench_cmd, br);
  bench_cmd->add_option("--json", ba.json, "Write the results as JSON to this file");
  bench_cmd->add_option("--chart", ba.chart, "Write a bar chart of fps per mode and length (PNG) to this file");
  bench_cmd->add_option("--work-dir", ba.work_dir, "Keep the looped inputs in this directory (default: a temporary one, removed)");
  bench_cmd->add_flag("-q,--quiet", br.quiet, "Print the table only");
  return bench_cmd;
}

// vidinfer import-tfjs.
int do_import(const std::string& import_json, const std::string& import_out,
              const std::vector<std::string>& import_outputs, const std::string& import_provenance) {
  try {
    import_tfjs(import_json, import_out, import_outputs, import_provenance);
    std::fprintf(stderr, "vidinfer: wrote %s\n", import_out.c_str());
    return kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitInputsFailed;
  }
}

// vidinfer probe: the video stream of each input, as text or JSON Lines.
int do_probe(const std::vector<std::string>& probe_inputs, bool probe_json) {
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

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
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
  auto* run = add_run_command(app, r);

  RunArgs br;
  BenchArgs ba;
  auto* bench_cmd = add_bench_command(app, br, ba);

  std::vector<std::string> probe_inputs;
  bool probe_json = false;
  auto* probe_cmd = app.add_subcommand("probe", "Describe the video stream of each input");
  probe_cmd->add_option("inputs", probe_inputs, "Video files, or streams: URLs, '-' for standard input")->required();
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
  if (import_cmd->parsed()) return do_import(import_json, import_out, import_outputs, import_provenance);
  return do_probe(probe_inputs, probe_json);
}
