// vidinfer bench: the usual pipeline and vidinfer's, on the same inputs and model, in one process.
//
//   BenchOptions b;  b.run = run_options;  b.lengths = {960, 5520, 9300};
//   BenchReport r = run_bench(b, inputs, [](const std::string& line) { log(line); });
//   std::cout << bench_table(r);  write_file("bench.json", bench_json(r));  write_bench_chart(r, "bench.png");
//
// Modes, each timed over all inputs (wall clock; model loading not counted):
//   baseline   the usual pipeline as tutorials write it: one input after another, libavcodec decode
//              on all cores, RGB24 on the CPU (swscale), each frame copied to the model's device on
//              its own, resized and normalised there with LibTorch ops, batched, the same model, the
//              same precision and the same task head.
//   vidinfer   vidinfer's pipeline (Pipeline::run) with the run options given.
//   preprocess vidinfer without the model (decode + preprocess: RunOptions::skip_model).
//   decode     vidinfer decode only (RunOptions::skip_preprocess): the decoders' ceiling.
//   model      the model alone on a constant batch, as many frames as the inputs hold.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vidinfer/options.h"

namespace vidinfer {

struct BenchOptions {
  RunOptions run;  // model, its spec, device, decoder, streams, segments
  std::vector<std::string> modes{"baseline", "vidinfer", "preprocess", "decode", "model"};
  // Frames per input: each input is looped (its packets copied again, no re-encode, timestamps
  // continued) and cut to this many frames, one run of every mode per length. Empty: as given.
  std::vector<int64_t> lengths;
  std::string work_dir;   // where looped copies are written; empty: a temporary directory, removed after
  std::string temp_root = "/tmp";  // where that temporary directory is made (the CLI gives $TMPDIR)
  std::string command;    // the command line, recorded in the report
};

struct BenchRow {
  int64_t length = 0;    // frames per input (0: the inputs as given)
  std::string mode;
  int64_t frames = 0;    // frames through the mode, all inputs
  double seconds = 0;    // the timed run (fps = frames / seconds)
  double setup_seconds = 0;  // before the timed run, not in `seconds`: loading and warming the model
                             // (baseline and model: once for both); vidinfer's modes: building the
                             // pipeline, which also makes the first inputs' NVDEC sessions meanwhile
  double fps = 0;
  double speedup = 0;    // fps / the baseline's fps at the same length (0: no baseline)
  std::vector<std::pair<std::string, double>> stages;  // seconds per stage (vidinfer's summed over decode threads)
  double gpu_memory_mib = -1;  // peak device memory in use above the level before the mode (whole GPU); -1: no GPU
  double rss_mib = 0;          // peak resident memory of this process during the mode
  double cpu_cores = 0;        // process CPU time / wall time
  double top1_agreement = -1;  // vidinfer mode, task classify: share of frames whose top-1 equals the baseline's
  // live mode: every input read as a live camera (LiveOptions::pace_files; frames dropped when the
  // model is behind). Streams held in real time: those that dropped no frame; latency percentiles
  // of the worst stream (the largest p50 and p99 among them); and the p99 of all streams' frames
  // together, over the whole run and without each stream's first second (its connection, its
  // decoder's creation and first batches: once per camera, not what a running service sees); -1:
  // no such frame.
  int live_streams = 0, live_realtime = 0;
  int64_t live_dropped = 0;
  double live_p50_ms = 0, live_p99_ms = 0;
  double live_p99_all_ms = -1, live_p99_settled_ms = -1;
  std::string note;            // the decoder used, failed inputs
  bool failed = false;
};

struct BenchReport {
  std::string machine;  // GPU, driver, CPU, cores, host
  std::string command;
  std::string model, device, dtype;
  int batch = 0;
  size_t inputs = 0;
  std::vector<BenchRow> rows;
  bool any_failed() const {
    for (const auto& r : rows)
      if (r.failed) return true;
    return false;
  }
};

// Throws vidinfer::Error on an unknown mode, no modes, or a length < 1 (run_bench checks this first).
void check_bench_options(const BenchOptions& options);

// Runs every mode at every length. Throws vidinfer::Error on bad options (unknown mode, no inputs,
// a length < 1), a model that cannot be loaded, or an input that cannot be looped; an input that
// fails inside a mode marks that row failed (with the error in its note) and the other rows still
// run. `log` gets one line per row done. Times are wall clock around the mode's work: loading and
// warming up the model (for every mode alike) are not counted.
BenchReport run_bench(const BenchOptions& options, const std::vector<std::string>& inputs,
                      const std::function<void(const std::string&)>& log = {});

std::string bench_table(const BenchReport& r);
std::string bench_json(const BenchReport& r);  // pretty JSON
// A bar chart of fps per mode and length (PNG); throws vidinfer::Error naming `path`.
void write_bench_chart(const BenchReport& r, const std::string& path);

// Writes `frames` frames of `input`'s video stream to `output` (container from its extension) by
// copying its packets again and again, timestamps continuing: a longer input with the same content
// and no re-encode. Throws vidinfer::Error naming the input or output.
void write_looped_video(const std::string& input, const std::string& output, int64_t frames);

}  // namespace vidinfer
