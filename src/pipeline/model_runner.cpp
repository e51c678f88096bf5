#include "pipeline/model_runner.h"

#include <algorithm>
#include <cstdio>

#include "common/timer.h"
#include "infer/model_stream.h"
#include "infer/output_checks.h"
#include "vidinfer/error.h"

namespace vidinfer {

ModelRunner::ModelRunner(Engine& engine, const RunOptions& opt, DevicePool& pool, int workers,
                         const std::vector<std::string>& inputs, uintptr_t model_stream)
    : engine_(engine),
      opt_(opt),
      pool_(pool),
      workers_(workers),
      inputs_(inputs),
      ms_(model_stream),
      trace_(model_stream, opt.tuning.trace),
      model_batch_(opt.spec.batch) {
  if (opt.tuning.overlap_head) head_stream_ = head_cuda_stream(engine.device(), model_stream, opt.tuning.stream_priority);
  if (head_stream_)
    for (auto& e : forwarded_) e = cuda::Event::make();
}

void ModelRunner::submit(uint64_t seq, Batch b, bool run_model) {
  Pending cur;
  cur.seq = seq;
  cur.batch = std::move(b);
  cur.d.slots = cur.batch.slots;
  forward(cur, run_model);
  if (prev_) {
    finish(*prev_);
    prev_.reset();
  }
  if (head_stream_ && !cur.chunks.empty()) {
    forwarded_[seq % 2].record(ms_);
    cur.forwarded = &forwarded_[seq % 2];
    prev_ = std::move(cur);
  } else {
    finish(cur);
  }
}

void ModelRunner::flush() {
  if (!prev_) return;
  finish(*prev_);
  prev_.reset();
}

std::optional<BatchOutcome> ModelRunner::take(uint64_t seq) {
  auto it = done_.find(seq);
  if (it == done_.end()) return std::nullopt;
  BatchOutcome d = std::move(it->second);
  done_.erase(it);
  return d;
}

void ModelRunner::print_trace(double waited) {
  trace_.wait = waited;
  trace_.print(head_stream_ ? "model (head overlapping the next forward)" : "model");
}

// Orders the model after every writer's kernels (on their decoders' streams); decode + preprocess
// runs wait on the host instead, as they run no model.
void ModelRunner::order_after_writers(const Batch& b) {
  const int p = b.pool_index;
  if (p < 0) return;
  for (int w = 0; w < workers_; ++w)
    if (b.writers.test(static_cast<size_t>(w))) {
      if (opt_.skip_model) pool_.written[w][p].synchronize();
      else cuda::wait(ms_, pool_.written[w][p]);
    }
}

// Decode + preprocess runs with a binding that takes the batches (Extensions::on_batch): the rows
// whose frames were written, as the model would get them.
void ModelRunner::hand_out(const Batch& b, const Extensions& ext) {
  std::vector<BatchRow> rows;
  std::vector<int64_t> keep;
  rows.reserve(b.slots.size());
  for (size_t k = 0; k < b.slots.size(); ++k) {
    const Slot& s = b.slots[k];
    if (!s.valid) continue;
    rows.push_back({s.input, s.frame_index, s.pts, s.geometry.src_w, s.geometry.src_h});
    keep.push_back(static_cast<int64_t>(k));
  }
  if (rows.empty()) return;
  torch::Tensor used = b.data.narrow(0, 0, static_cast<int64_t>(b.slots.size()));
  // A batch the CPU decoder made (a stream NVDEC refused) is handed out on the run's device too: the
  // caller asked for tensors there, whichever decoder each input got.
  if (used.device() != engine_.device()) used = used.to(engine_.device());
  ext.on_batch(rows.size() == b.slots.size() ? used
                                             : used.index_select(0, torch::tensor(keep).to(used.device())),
               rows);
}

// The forwards, in chunks of model_batch_ frames (the whole batch unless an out-of-memory error has
// halved it).
void ModelRunner::forward(Pending& P, bool run_model) {
  Batch& b = P.batch;
  BatchOutcome& d = P.d;
  const int n = static_cast<int>(b.slots.size());
  try {
    order_after_writers(b);
    if (opt_.skip_model) {
      d.skipped_model = true;
      if (const Extensions* ext = engine_.extensions(); ext && ext->on_batch) {
        if (b.pool_index < 0 && engine_.device().is_cuda()) d.host_to_device_bytes = b.data.element_size() * b.data[0].numel() * n;
        hand_out(b, *ext);
      }
      return;
    }
    if (!run_model) return;
    if (b.pool_index < 0 && engine_.device().is_cuda()) d.host_to_device_bytes = b.data.element_size() * b.data[0].numel() * n;
    for (int off = 0; off < n;) {
      const int len = std::min(model_batch_, n - off);
      Chunk c;
      c.off = off;
      c.len = len;
      try {
        ScopedTimer timer(d.infer_s);
        ScopedTimer trace_timer(trace_.forward);
        c.trace_slot = trace_.before_forward();
        c.out = engine_.model().forward(off == 0 && len == b.data.size(0) ? b.data : b.data.narrow(0, off, len));
        trace_.after_forward(c.trace_slot);
      } catch (const Error& e) {
        if (!is_out_of_memory(e)) throw;
        if (backed_off_ || len == 1)
          throw Error("model ran out of memory", opt_.model_path,
                      "batch of " + std::to_string(len) + " frames" +
                          (backed_off_ ? " after halving the batch from " + std::to_string(opt_.spec.batch) : "") +
                          " (" + e.cause() + ")");
        backed_off_ = true;
        model_batch_ = std::max(1, len / 2);
        d.warning_input = b.slots[off].input;
        d.warning = "model ran out of memory with a batch of " + std::to_string(len) + " frames; batch halved to " +
                    std::to_string(model_batch_) + " for the rest of the run (" + e.cause() + ")";
        std::fprintf(stderr, "vidinfer: warning: %s: %s\n", shown_input(inputs_[d.warning_input]).c_str(), d.warning.c_str());
        continue;  // the same frames again, in smaller chunks
      }
      P.chunks.push_back(std::move(c));
      off += len;
    }
  } catch (const Error& e) {
    d.error = e.input().empty() ? e.with_input(opt_.model_path).what() : e.what();
    P.chunks.clear();
  }
}

// The checks and the head of a batch whose forwards are queued, then its tensor back to the pool.
void ModelRunner::finish(Pending& P) {
  BatchOutcome& d = P.d;
  uintptr_t last = ms_;  // the stream the batch's last work is on
  const auto release = [&] {
    // The tensor may be refilled once the stream is past the forward and the head (which may read
    // the input, if the output is a view of it).
    if (P.batch.pool_index < 0) return;
    try {
      pool_.done[P.batch.pool_index].record(last);
    } catch (const Error&) {  // the device failed: the next batch's CUDA calls report it
    }
  };
  try {
    std::optional<ModelStream> head_stream;  // current on this thread until the end of the block
    if (P.forwarded) {
      head_stream.emplace(engine_.device(), head_stream_);
      last = head_stream->handle();
      cuda::wait(last, *P.forwarded);
    }
    for (Chunk& c : P.chunks) {
      const std::vector<Slot> slots(P.batch.slots.begin() + c.off, P.batch.slots.begin() + c.off + c.len);
      // NaNs often depend on the frames (a black frame and a division): they fail the input whose
      // frame it was (its later results are dropped), not the run, nor the other inputs that share
      // the batch.
      std::vector<const char*> bad(c.len, nullptr);
      {
        ScopedTimer timer(trace_.check);
        non_finite_rows(c.out, c.len, bad);
      }
      std::vector<FrameResult> results;
      {
        ScopedTimer timer(d.post_s);
        ScopedTimer trace_timer(trace_.post);
        results = engine_.postprocess(c.out, slots, inputs_);
      }
      trace_.collect(c.trace_slot);
      ++trace_.batches;
      trace_.frames += c.len;
      for (auto& r : results) d.results.push_back(std::move(r));
      d.bad.insert(d.bad.end(), bad.begin(), bad.end());
    }
    release();
  } catch (const Error& e) {
    d.error = e.input().empty() ? e.with_input(opt_.model_path).what() : e.what();
    d.results.clear();
    d.bad.clear();
    release();
  }
  if (P.batch.pool_index >= 0) pool_.free.push(P.batch.pool_index);
  P.chunks.clear();
  done_.emplace(P.seq, std::move(d));
}

}  // namespace vidinfer
