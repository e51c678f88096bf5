// The modes vidinfer bench times (include/vidinfer/bench.h lists them): the usual pipeline (the
// baseline), vidinfer's pipeline, and the model alone, and the result each gives run_bench.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "infer/model.h"
#include "pipeline/latency_histogram.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"

namespace vidinfer::bench {

// Top-1 class per (input, frame index), to compare the baseline with vidinfer.
using Top1 = std::map<std::pair<std::string, int64_t>, int>;

struct ModeResult {
  int64_t frames = 0;
  double seconds = 0;
  std::vector<std::pair<std::string, double>> stages;
  std::vector<std::string> errors;
  std::string decoder;
  std::vector<LiveSummary> live;  // per input, for live inputs
  // Live inputs' frames together: all, and those received 1 s or more after their stream's first.
  LatencyHistogram live_all, live_settled;
};

// The usual pipeline (see bench/modes.cpp): each input decoded, converted, copied and batched in turn.
ModeResult run_baseline(const RunOptions& o, Model& model, const std::vector<std::string>& inputs, Top1* top1);

// vidinfer's pipeline, built by the caller (its model loaded and warmed up), over `inputs`.
ModeResult run_vidinfer(Pipeline& p, const std::vector<std::string>& inputs, Top1* top1);

// The model alone on `frames` frames of a constant batch.
ModeResult run_model_only(const RunOptions& o, Model& model, int64_t frames);

}  // namespace vidinfer::bench
