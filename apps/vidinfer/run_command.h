// vidinfer run: its command-line values (RunArgs, also bench's model options), how they become the
// library's RunOptions, and the command itself (inputs, --resume, the run, the summary).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vidinfer/options.h"

namespace vidinfer::cli {

struct RunArgs {
  std::string model, task, labels, out = "-", summary, inputs_from;
  std::string shard;  // --shard: "I/N", "auto" or "auto/N"; empty: the whole list
  std::vector<std::string> inputs;
  std::string input_size, resize, mean, std_, channels, dtype, detect_layout, box_format, score_activation,
      class_activation;
  int batch = 0, topk = 5, max_detections = 100, decode_threads = 0, letterbox_fill = -1, streams = 0, segments = 0;
  bool boxes_normalized = false, nvdec_resize = false;
  float score_threshold = 0.3f, iou_threshold = 0.5f;
  int64_t every = 1, max_frames = -1;
  double start = 0, end = -1;
  std::string device = "auto", decoder = "auto", on_error = "skip";
  std::string devices;  // --devices (empty: --device)
  int cpu_threads = 0;
  std::string annotate, annotate_frames;
  bool quiet = false, no_progress = false, skip_model = false, decode_only = false, resume = false,
       apply_rotation = false;
  // Live inputs (LiveOptions).
  double duration = 0, max_batch_wait_ms = 20, stall_timeout = 5, max_lag = 1;
  std::string live_drop = "when-full", rtsp_transport = "tcp";
  int reconnect = 10;
  bool live_pace = false;
  double pace_stagger = 0;
};

// RunOptions from the command line; throws vidinfer::Error on a bad value (a usage error).
RunOptions make_run_options(const RunArgs& a);

// vidinfer run; returns the exit status (exit_codes.h).
int do_run(RunArgs& a);

}  // namespace vidinfer::cli
