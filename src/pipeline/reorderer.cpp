#include "pipeline/reorderer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "vidinfer/error.h"

namespace vidinfer {

Reorderer::Reorderer(const RunOptions& opt, const std::vector<std::string>& inputs, RunSummary& summary,
                     const Pipeline::FrameCallback& on_frame, const Pipeline::ProgressCallback& on_progress,
                     const Pipeline::InputCallback& on_input, std::atomic<bool>& stop,
                     const std::atomic<bool>& cancelled)
    : opt_(opt),
      inputs_(inputs),
      summary_(summary),
      on_frame_(on_frame),
      on_progress_(on_progress),
      on_input_(on_input),
      stop_(stop),
      cancelled_(cancelled),
      state_(inputs.size()) {}

void Reorderer::progress() {
  if (!on_progress_ || inputs_.empty()) return;
  double in_flight = 0;
  for (const InputState& st : state_)
    if (!st.finished && st.expected > 0) in_flight += std::min(1.0, st.processed / st.expected);
  const size_t idx = std::min(inputs_done_, inputs_.size() - 1);
  on_progress_(Progress{idx, inputs_.size(), last_input_, static_cast<double>(inputs_done_ - idx) + in_flight,
                        summary_.frames});
}

void Reorderer::deliver(FrameResult& r, InputState& st) {
  r.frame_index += st.offset;
  if (r.received > 0) {  // a live input's frame: its latency ends here, as it is handed out
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    r.latency = std::max(0.0, now - r.received);
    st.latency.add(r.latency);
  }
  ++st.processed;
  ++summary_.frames;
  on_frame_(r);
}

void Reorderer::route(FrameResult& r, const Slot& s) {
  InputState& st = state_[s.input];
  if (st.broken || !st.before_cut(s.segment, s.frame_index)) return;
  if (s.segment == st.next) deliver(r, st);
  else st.held[s.segment].push_back(std::move(r));
}

void Reorderer::expect(const Batch& b) {
  for (const Slot& s : b.slots) state_[s.input].expected = s.expected_frames;
}

void Reorderer::commit(BatchOutcome& c) {
  summary_.stages.infer += c.infer_s;
  summary_.stages.postprocess += c.post_s;
  summary_.host_to_device_bytes += c.host_to_device_bytes;
  if (!c.warning.empty()) state_[c.warning_input].warning = c.warning;
  if (!c.error.empty() && model_error_.empty()) {
    model_error_ = c.error;
    stop_ = true;
  }
  for (const Slot& s : c.slots) last_input_ = inputs_[s.input];
  if (c.skipped_model) {  // measuring decode + preprocess: the batch is ready, emit nothing
    for (const Slot& s : c.slots) ++state_[s.input].processed;
    summary_.frames += static_cast<int64_t>(c.slots.size());
  }
  for (size_t k = 0; k < c.results.size(); ++k) {
    const Slot& s = c.slots[k];
    InputState& st = state_[s.input];
    if (!s.valid || !st.before_cut(s.segment, s.frame_index)) continue;
    if (c.bad[k]) {
      st.cut = {s.segment, s.frame_index};
      // A frame of a segment whose earlier segments are not all in yet has no input-wide index: it
      // is named by its time.
      char when[64];
      std::snprintf(when, sizeof when, "at %.3f s", s.pts);
      const std::string where =
          s.segment == st.next ? "at frame " + std::to_string(s.frame_index + st.offset) : std::string(when);
      st.error = Error(std::string("model output has ") + c.bad[k], opt_.model_path, where + " of " + inputs_[s.input]).what();
      continue;
    }
    c.results[k].received = s.received;
    c.results[k].gap_before = s.gap_before;
    route(c.results[k], s);
  }
  progress();
}

// Folds the next segment's completion into the input's merged summary, then delivers the results
// that waited for it.
void Reorderer::merge_segment(InputState& st, JobDone& x) {
  InputSummary& mg = st.merged;
  if (!st.any_done) {
    mg.input = x.summary.input;
    mg.decoder = x.summary.decoder;
    mg.nvdec = x.summary.nvdec;
    mg.device = x.summary.device;
    mg.live = x.summary.live;
    st.first_decoder = x.summary.decoder;
    st.any_done = true;
  } else if (!x.summary.decoder.empty() && x.summary.decoder != st.first_decoder) {
    // (A segment whose decoder differs from the first's: one the GPU decoder refused part-way.)
    mg.decoder += "; segment " + std::to_string(x.job.segment + 1) + ": " + x.summary.decoder;
  }
  if (!x.summary.device.empty() && ("," + mg.device + ",").find("," + x.summary.device + ",") == std::string::npos)
    mg.device += (mg.device.empty() ? "" : ",") + x.summary.device;  // segments that ran on several devices
  mg.frames_decoded += x.summary.frames_decoded;
  mg.packets_corrupt += x.summary.packets_corrupt;
  if (x.summary.status == InputStatus::Failed && mg.status != InputStatus::Failed) {
    mg.status = InputStatus::Failed;
    mg.error = x.summary.error;
  }
  if (!x.summary.warning.empty()) mg.warning = mg.warning.empty() ? x.summary.warning : mg.warning + "; " + x.summary.warning;
  st.t_start = std::min(st.t_start, x.t_start);
  st.t_end = std::max(st.t_end, x.t_end);
  mg.seconds = st.t_end - st.t_start;
  st.halted |= x.halted;
  // After a segment that failed, later segments' frame indices are unknown: their results are dropped.
  if (x.summary.status == InputStatus::Failed) st.broken = true;
  st.offset += x.summary.frames_decoded;
}

void Reorderer::job_done(JobDone& d) {
  const size_t i = d.job.input;
  InputState& st = state_[i];
  if (opt_.skip_preprocess) {  // decode-only runs send no batches: count what was selected
    st.processed += d.selected;
    summary_.frames += d.selected;
  }
  st.segments = d.job.segments;
  st.done.emplace(d.job.segment, std::move(d));
  while (st.done.count(st.next)) {
    merge_segment(st, st.done.at(st.next));
    st.done.erase(st.next);
    ++st.next;
    if (auto h = st.held.find(st.next); h != st.held.end()) {
      if (!st.broken)
        for (auto& r : h->second)
          if (st.before_cut(st.next, r.frame_index)) deliver(r, st);
      st.held.erase(h);
    }
  }
  if (st.next == st.segments) finish_input(i, true);
}

// The input's final summary, from its segments' (`complete`: every segment ran to its end).
void Reorderer::finish_input(size_t i, bool complete) {
  InputState& st = state_[i];
  InputSummary s = st.merged;
  if (!st.any_done) s.input = inputs_[i];
  if (st.segments > 1) s.decoder += "; " + std::to_string(st.segments) + " segments decoded at once";
  s.frames_processed = st.processed;
  if (s.live) {
    s.live->frames_received += s.frames_decoded;  // (the job counted those skipped before decoding)
    s.live->frames_processed = st.processed;
    s.live->latency_p50 = st.latency.quantile(0.50);
    s.live->latency_p95 = st.latency.quantile(0.95);
    s.live->latency_p99 = st.latency.quantile(0.99);
    s.live->latency_max = st.latency.max();
  }
  if (!st.warning.empty()) s.warning = s.warning.empty() ? st.warning : s.warning + "; " + st.warning;
  if (!st.error.empty() && s.status == InputStatus::Ok) {
    s.status = InputStatus::Failed;
    s.error = st.error;
  }
  if (!model_error_.empty() && (s.status == InputStatus::Ok || st.halted || !complete)) {
    s.status = InputStatus::Failed;
    s.error = model_error_;
  }
  if (!complete && s.status == InputStatus::Ok) {
    s.status = InputStatus::Failed;
    s.error = inputs_[i] + (st.any_done ? ": not complete: " : ": not processed: ") +
              (cancelled_           ? "interrupted"
               : opt_.stop_on_error ? "stopped after an earlier failure (--on-error fail)"
                                    : "stopped");
  }
  summary_.inputs[i] = s;
  st.finished = true;
  st.held.clear();
  ++inputs_done_;
  if (on_input_) on_input_(s);
  progress();
}

void Reorderer::finish_rest() {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (!state_[i].finished) finish_input(i, false);
}

}  // namespace vidinfer
