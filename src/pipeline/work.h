// What flows through the pipeline: jobs (what a worker decodes), slots (one frame's place in a
// batch, with its provenance), batches (what the model runs on), job completions (after every batch
// holding the job's frames) and batch outcomes (what the model and head made of a batch). Plain
// value types, moved between threads through the batcher's queue.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <torch/torch.h>

#include "common/av.h"
#include "preprocess/geometry.h"
#include "vidinfer/results.h"

namespace vidinfer {

// What a job decodes: a whole input, or the frames of one segment of it. Segment k starts at the
// keyframe whose index timestamp is start_key and owns the frames whose presentation time is at or
// after that keyframe's and before the next segment's keyframe's.
struct Job {
  size_t input = 0;
  int segment = 0, segments = 1;
  int64_t start_key = AV_NOPTS_VALUE;  // none: from the start of the input
  int64_t end_key = AV_NOPTS_VALUE;    // none: to its end
};

// Decode workers of one lane at most: --streams for files, and one per live input.
constexpr int kMaxWorkers = 512;

struct Slot {
  size_t input = 0;
  int segment = 0;
  int64_t frame_index = 0;  // within the job's frames (the whole input's index when not segmented)
  double pts = 0;
  Geometry geometry;
  double expected_frames = 0;  // of the input (for progress); 0 if unknown
  double received = 0;         // live inputs: when the frame's packet was read (Unix seconds); else 0
  double gap_before = 0;       // live inputs: the first frame after a reconnect: seconds without data before it
  bool valid = true;           // false: the slot's write failed; its row is ignored
};

struct Batch {
  // [capacity, 3, H, W]: float32 in (pinned) host memory from the CPU path, or a tensor of the
  // device pool, already in the model's dtype, from the GPU path. The first slots.size() are used.
  torch::Tensor data;
  int pool_index = -1;  // >= 0: device batch, ready once every writer's event has passed
  std::vector<Slot> slots;
  std::bitset<kMaxWorkers> writers;  // device batch: the workers whose events to wait for
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

// What became of one batch once its forward and head are done (ModelRunner).
struct BatchOutcome {
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

}  // namespace vidinfer
