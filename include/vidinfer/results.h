// What a run produces: per-frame results and the run summary. Plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vidinfer {

struct ClassScore {
  int class_id = 0;
  std::string label;
  float score = 0.f;
};

// A box in the original frame's pixel coordinates (x right, y down; x2/y2 exclusive edges).
struct Detection {
  float x1 = 0.f, y1 = 0.f, x2 = 0.f, y2 = 0.f;
  float score = 0.f;
  int class_id = 0;
  std::string label;
};

struct FrameResult {
  std::string input;
  int64_t frame_index = 0;  // 0-based, in presentation order, counting every decoded frame
  double pts = 0.0;         // presentation time in seconds, as the container gives it (= ffprobe's)
  int width = 0, height = 0;  // of the decoded frame
  std::vector<ClassScore> classes;   // classification
  std::vector<Detection> detections; // detection
  // Live inputs only (LiveOptions), else 0 and -1: when the frame's packet was read (wall clock,
  // seconds since the Unix epoch), and the seconds from then to its result being delivered.
  double received = 0;
  double latency = -1;
  // The first frame of a live input after a reconnect: how long the stream gave no data before it
  // (seconds; the frames lost meanwhile have no numbers: numbering goes on); else 0.
  double gap_before = 0;
};

struct StageTimes {
  double demux = 0, decode = 0, preprocess = 0, infer = 0, postprocess = 0;  // seconds
};

// A live input's counts (LiveOptions): frames received (decoded), processed (through the model) and
// dropped (the model was behind: LiveOptions::drop); the connection made again, and the seconds
// without data between losing it and having it back; receive-to-result latency percentiles.
struct LiveSummary {
  int64_t frames_received = 0, frames_processed = 0, frames_dropped = 0;
  int reconnects = 0;
  double gap_seconds = 0;
  double latency_p50 = 0, latency_p95 = 0, latency_p99 = 0, latency_max = 0;  // seconds
};

// Skipped: not run, because `--resume` found its complete results in the output file already.
enum class InputStatus { Ok, Failed, Skipped };

struct InputSummary {
  std::string input;
  InputStatus status = InputStatus::Ok;
  std::string error;          // one line when Failed
  std::string warning;        // one line when Ok but something was off (read error near the end)
  std::string decoder;        // which decoder ran, and why not the GPU's when it was not
                              // ("gpu (NVDEC h264)", "cpu (libavcodec h264, 16 threads); GPU decoder not used: ...")
  int64_t frames_decoded = 0;
  int64_t frames_processed = 0;  // sent through the model
  int64_t packets_corrupt = 0;   // rejected by the decoder, skipped
  double seconds = 0;
  bool nvdec = false;  // NVDEC decoded it (from its start; it may have handed over to the CPU part-way)
  // Runs on several devices (RunOptions::devices): the device that ran it ("cuda:1"; segments that
  // ran on several: "cuda:0,cuda:1"). Empty in a one-device run.
  std::string device{};
  std::optional<LiveSummary> live{};  // set for live inputs
};

// Runs on several devices: what each device's engine did (frames through its model, seconds from the
// run's start to its last result, and their ratio).
struct DeviceSummary {
  std::string device{};
  int64_t frames = 0;
  double seconds = 0;
  double fps = 0;
};

// The part of a longer input list that a run was given (`vidinfer run --shard I/N`): shard `index` of
// `count`, which took `inputs` of the list's `of` inputs.
struct ShardSummary {
  uint64_t index = 0, count = 1;
  uint64_t inputs = 0, of = 0;
};

struct RunSummary {
  int64_t frames = 0;  // processed frames, all inputs
  double seconds = 0;
  double fps = 0;
  StageTimes stages;
  std::string device;  // where the model ran (several devices: "cuda:0,cuda:1")
  std::vector<DeviceSummary> devices;  // per engine, in RunOptions::devices order; empty with one device
  // Frame data copied from host to device memory by the pipeline (the CPU-decode path with the model
  // on a GPU). 0 when every input was decoded and preprocessed on the GPU.
  int64_t host_to_device_bytes = 0;
  bool interrupted = false;  // Pipeline::cancel() stopped the run
  std::string model;
  std::optional<ShardSummary> shard;  // set when the run was one shard of a list (written only then)
  std::vector<InputSummary> inputs;
  int failed_inputs() const {
    int n = 0;
    for (const auto& i : inputs) n += i.status == InputStatus::Failed;
    return n;
  }
};

}  // namespace vidinfer
