// The pipeline: runs a model over the frames of a list of inputs.
//
//   Pipeline p(options, inputs);      // loads the model; throws vidinfer::Error
//   RunSummary s = p.run(inputs, [](const FrameResult& r) { ... });
//
// Inputs run concurrently: up to RunOptions::streams decode jobs at once (0: auto), each on its own
// worker thread and decoder, all filling the same model batches. A job is an input, or a
// keyframe-aligned segment of one (RunOptions::segments). A bad input is recorded as Failed in the
// summary and the rest go on.
// Every callback comes from the calling thread, which runs the model. Each input's frame callbacks
// come in frame order (segments are put back in order), then its input callback. Across inputs,
// frame callbacks interleave in the order their batches come out of the model, and input callbacks
// come in the order the inputs complete, not necessarily the order given (RunSummary::inputs is in
// the order given). With one stream, inputs run one after another, in the order given, and all of
// an input's frame and input callbacks come before the next input's.
// Not thread-safe: one run() at a time per Pipeline.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vidinfer/options.h"
#include "vidinfer/results.h"

namespace vidinfer {

struct Extensions;  // src/pipeline/extensions.h: what a binding built with the library adds (LibTorch types)

struct Progress {
  size_t input_index = 0;  // 0-based
  size_t input_count = 0;
  std::string input;
  double input_fraction = 0;  // 0..1: the inputs in flight, each the share of its expected frames done, summed
  int64_t frames = 0;         // processed so far, all inputs
};

class Pipeline {
 public:
  using FrameCallback = std::function<void(const FrameResult&)>;
  using ProgressCallback = std::function<void(const Progress&)>;
  // Once per input, after its last frame callback, with its final summary (status, counts, error).
  using InputCallback = std::function<void(const InputSummary&)>;

  // Loads the model (throws vidinfer::Error). `first_inputs`: the inputs the first run() will take,
  // when known: on the GPU path, the hardware decoders they need are created meanwhile, while the
  // model loads, so that the run's decoders start at once (creating one takes ~45 ms, and the driver
  // makes one at a time). Only local files are looked at; one that does not open is left to the run,
  // which reports it. Any inputs may still be given to run().
  explicit Pipeline(RunOptions options, const std::vector<std::string>& first_inputs = {});
  // The same, with a binding's additions (the Python module's: a callable model, batches handed out).
  Pipeline(RunOptions options, const std::vector<std::string>& first_inputs, std::shared_ptr<const Extensions> extensions);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // With RunOptions::annotate_* set, each input that succeeded is annotated once its last frame is
  // in (before its input callback); an annotation that fails marks the input failed (its frame
  // results were already delivered).
  RunSummary run(const std::vector<std::string>& inputs, const FrameCallback& on_frame,
                 const ProgressCallback& on_progress = {}, const InputCallback& on_input = {});

  // Asks a run in progress to stop: batches already queued are finished and delivered, the inputs
  // being decoded are marked interrupted, later inputs are not started, and run() returns a summary
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
