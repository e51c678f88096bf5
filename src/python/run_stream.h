// RunStream: a Pipeline run on a thread of its own, its output handed to a consumer (the Python
// module's iterators) one item at a time through a bounded queue. Why a thread: Pipeline::run
// delivers through callbacks until the run ends, while a Python iterator is pulled; the queue's
// bound is the back-pressure (a consumer that stops pulling stops the decoders, nothing piles up).
// No Python here: the module releases the GIL around next() and the destructor.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "common/cuda.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/extensions.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {

struct StreamItem {
  enum class Kind { Batch, Frame, InputDone, Summary, Failure };
  Kind kind = Kind::Frame;
  // Batch: its own tensor (a copy the consumer owns; no buffer of the pipeline is reused under it),
  // and its rows. On a GPU the copy was queued on the run's model stream; `ready` is recorded after
  // it (see RunStream::next).
  torch::Tensor tensor;
  std::vector<BatchRow> rows;
  std::shared_ptr<cuda::Event> ready;
  // Frame, InputDone, Summary: the JSON object, as the CLI writes it (frame line, end-of-input
  // record, run summary). Failure: the run's one-line error.
  std::string text;
  bool input_ok = true;  // InputDone: the input's status was ok
};

class RunStream {
 public:
  struct Options {
    bool batches = false;        // hand out batches (decode + preprocess only) instead of results
    bool uint8 = false;          // batches: values rounded to 0..255 in uint8 (the run made them 0..255 in float32)
    size_t queue_items = 256;    // frame lines and records waiting for the consumer
    size_t queue_batches = 3;    // batches waiting for the consumer (each its own device memory)
  };
  // Makes the Pipeline here (the model loads: throws vidinfer::Error), then starts the run on its
  // thread. `ext`: make_model may be set; on_batch is set here when o.batches.
  RunStream(RunOptions run, std::vector<std::string> inputs, Extensions ext, Options o);
  ~RunStream();  // cancels a run still going, drops what waits, joins
  RunStream(const RunStream&) = delete;
  RunStream& operator=(const RunStream&) = delete;

  // The next item, waiting at most `timeout`; nullopt with *done false when it passed, true at the
  // end (after the Summary or Failure item). A batch on a GPU is made ready on the calling thread's
  // current stream before it is returned (that stream waits for the copy, on the device).
  std::optional<StreamItem> next(std::chrono::milliseconds timeout, bool* done);
  // Stops the run (as Ctrl-C does the CLI's): the batches in flight finish, no new input starts.
  void cancel();
  std::string device() const;

 private:
  void on_batch(const torch::Tensor& batch, const std::vector<BatchRow>& rows);
  bool push(StreamItem item);

  Options o_;
  std::vector<std::string> inputs_;
  std::unique_ptr<Pipeline> pipeline_;
  torch::Device device_{torch::kCPU};
  BoundedQueue<StreamItem> items_;
  BoundedQueue<int> batch_tokens_;  // one per batch waiting (the batches' own bound)
  std::thread thread_;
};

}  // namespace vidinfer
