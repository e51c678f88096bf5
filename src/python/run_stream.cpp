#include "python/run_stream.h"

#include <utility>

#include "infer/model_stream.h"
#include "vidinfer/error.h"
#include "vidinfer/json_lines.h"

namespace vidinfer {

RunStream::RunStream(RunOptions run, std::vector<std::string> inputs, Extensions ext, Options o)
    : o_(o), inputs_(std::move(inputs)), items_(o.queue_items), batch_tokens_(o.queue_batches) {
  if (o_.batches)
    ext.on_batch = [this](const torch::Tensor& b, const std::vector<BatchRow>& rows) { on_batch(b, rows); };
  const Task task = run.task;
  pipeline_ = std::make_unique<Pipeline>(std::move(run), inputs_, std::make_shared<const Extensions>(std::move(ext)));
  const std::string dev = pipeline_->device();  // several devices: "cuda:0,cuda:1"; the first is named
  device_ = torch::Device(dev.substr(0, dev.find(',')));
  thread_ = std::thread([this, task] {
    StreamItem last;
    try {
      const RunSummary s = pipeline_->run(
          inputs_,
          [&](const FrameResult& r) {
            if (!o_.batches) push({StreamItem::Kind::Frame, {}, {}, {}, frame_json(r, task)});
          },
          {},
          [&](const InputSummary& s) {
            StreamItem it{StreamItem::Kind::InputDone, {}, {}, {}, end_of_input_json(s)};
            it.input_ok = s.status != InputStatus::Failed;
            push(std::move(it));
          });
      last = {StreamItem::Kind::Summary, {}, {}, {}, summary_json(s, -1)};
    } catch (const std::exception& e) {
      last = {StreamItem::Kind::Failure, {}, {}, {}, e.what()};
    }
    push(std::move(last));
    items_.close();
  });
}

RunStream::~RunStream() {
  cancel();
  items_.close();  // a producer blocked on a full queue drops its item and goes on to the end
  batch_tokens_.close();
  if (thread_.joinable()) thread_.join();
}

void RunStream::cancel() {
  if (pipeline_) pipeline_->cancel();
}

std::string RunStream::device() const { return device_.str(); }

bool RunStream::push(StreamItem item) { return items_.push(std::move(item)); }

// On the run's thread (the model's, whose current stream is the run's model stream): the batch copied
// out of the pipeline's buffer, which is reused once this returns.
void RunStream::on_batch(const torch::Tensor& batch, const std::vector<BatchRow>& rows) {
  if (!batch_tokens_.push(0)) return;  // closed: the consumer has gone
  StreamItem it;
  it.kind = StreamItem::Kind::Batch;
  it.tensor = o_.uint8 ? batch.round().clamp_(0, 255).to(torch::kByte) : batch.clone();
  it.rows = rows;
  if (it.tensor.is_cuda()) {
    it.ready = std::make_shared<cuda::Event>(cuda::Event::make());
    it.ready->record(current_cuda_stream(it.tensor.device()));
  }
  push(std::move(it));
}

std::optional<StreamItem> RunStream::next(std::chrono::milliseconds timeout, bool* done) {
  auto it = items_.pop_for(timeout, done);
  if (!it) return it;
  if (it->kind == StreamItem::Kind::Batch) {
    bool closed = false;
    batch_tokens_.pop_for(std::chrono::milliseconds(0), &closed);
    if (it->ready) cuda::wait(current_cuda_stream(it->tensor.device()), *it->ready);
  }
  return it;
}

}  // namespace vidinfer
