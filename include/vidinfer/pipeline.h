// The pipeline: runs a model over the frames of a list of inputs.
//
//   Pipeline p(options);              // loads the model; throws vidinfer::Error
//   RunSummary s = p.run(inputs, [](const FrameResult& r) { ... });
//
// Inputs are processed one after another; a bad input is recorded as Failed in the summary and the
// rest go on. Frame callbacks come from the calling thread, in frame order per input.
// Not thread-safe: one run() at a time per Pipeline.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vidinfer/options.h"
#include "vidinfer/results.h"

namespace vidinfer {

struct Progress {
  size_t input_index = 0;  // 0-based
  size_t input_count = 0;
  std::string input;
  double input_fraction = 0;  // 0..1 of the current input, by time
  int64_t frames = 0;         // processed so far, all inputs
};

class Pipeline {
 public:
  using FrameCallback = std::function<void(const FrameResult&)>;
  using ProgressCallback = std::function<void(const Progress&)>;
  // Once per input, after its last frame callback, with its final summary (status, counts, error).
  using InputCallback = std::function<void(const InputSummary&)>;

  explicit Pipeline(RunOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // With RunOptions::annotate_* set, each input that succeeded is annotated once its last frame is
  // in (before its input callback); an annotation that fails marks the input failed (its frame
  // results were already delivered).
  RunSummary run(const std::vector<std::string>& inputs, const FrameCallback& on_frame,
                 const ProgressCallback& on_progress = {}, const InputCallback& on_input = {});

  // Asks a run in progress to stop: batches already queued are finished and delivered, the input
  // being decoded is marked interrupted, later inputs are not started, and run() returns a summary
  // with interrupted = true. Async-signal-safe (it only stores an atomic flag), so a SIGINT handler
  // may call it.
  void cancel() noexcept;

  const RunOptions& options() const;
  std::string device() const;

 private:
  RunSummary run_frames(const std::vector<std::string>& inputs, const FrameCallback& on_frame,
                        const ProgressCallback& on_progress, const InputCallback& on_input);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vidinfer
