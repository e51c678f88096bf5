#include "pipeline/job_source.h"

#include <chrono>
#include <cmath>

#include "demux/demuxer.h"
#include "pipeline/segments.h"

namespace vidinfer {
namespace {
constexpr double kMinSegmentSeconds = 4.0;   // shorter segments cost more in decoder start-up than they gain
constexpr double kMaxSegmentSeconds = 120.0; // longer ones hold more results back for re-ordering
}  // namespace

bool SegmentPolicy::may_segment(const InputSource& input, size_t n_inputs) const {
  if (!input.splittable()) return false;
  const FrameSelection& sel = opt_.selection;
  if (sel.every != 1 || sel.max_frames >= 0 || sel.start > 0 || std::isfinite(sel.end)) return false;
  if (opt_.segments == 1) return false;
  if (opt_.segments == 0 && (!gpu_path_ || n_inputs >= static_cast<size_t>(streams_))) return false;
  return true;
}

std::vector<Job> SegmentPolicy::plan(size_t i, const std::vector<InputSource>& inputs) const {
  Job whole;
  whole.input = i;
  if (!may_segment(inputs[i], inputs.size())) return {whole};
  try {
    Demuxer d(inputs[i].locator());
    const StreamInfo& st = d.stream();
    if (!(st.duration > 0) || st.time_base.num <= 0 || st.time_base.den <= 0) return {whole};
    const double tb = av_q2d(st.time_base);
    // The stream's real end, not its last keyframe (which would leave the final GOP to a segment).
    const int64_t end = std::llround((st.start_time + st.duration) / tb);
    const std::vector<int64_t> keys = d.keyframe_index();
    // The workers one input may use in auto mode: the streams per input, rounded up.
    const int workers = static_cast<int>((streams_ + inputs.size() - 1) / inputs.size());
    const std::vector<int64_t> cuts =
        opt_.segments > 1 ? even_cuts(keys, end, opt_.segments)
                          : guided_cuts(keys, end, workers, std::llround(kMinSegmentSeconds / tb),
                                        std::llround(kMaxSegmentSeconds / tb));
    if (cuts.empty()) return {whole};
    std::vector<Job> jobs;
    for (size_t j = 0; j <= cuts.size(); ++j) {
      Job job = whole;
      job.segment = static_cast<int>(j);
      job.segments = static_cast<int>(cuts.size() + 1);
      job.start_key = j == 0 ? AV_NOPTS_VALUE : cuts[j - 1];
      job.end_key = j == cuts.size() ? AV_NOPTS_VALUE : cuts[j];
      jobs.push_back(job);
    }
    return jobs;
  } catch (const std::exception&) {
    return {whole};
  }
}

std::vector<int> SegmentPolicy::sessions_per_input(const std::vector<InputSource>& inputs) const {
  const size_t n = std::min(inputs.size(), static_cast<size_t>(streams_));
  std::vector<int> per(n, 1);
  if (n > 0 && inputs.size() < static_cast<size_t>(streams_))
    for (size_t i = 0; i < n; ++i)
      if (may_segment(inputs[i], inputs.size()))
        per[i] = streams_ / static_cast<int>(n) + (static_cast<int>(i) < streams_ % static_cast<int>(n) ? 1 : 0);
  return per;
}

std::optional<Job> JobSource::next() {
  size_t i;
  {
    std::unique_lock lock(mu_);
    for (;;) {
      if (stop_) return std::nullopt;
      if (!pending_.empty()) {
        Job j = pending_.front();
        pending_.pop_front();
        return j;
      }
      if (next_input_ < inputs_.size()) {
        i = next_input_++;
        ++planning_;
        break;
      }
      // No input left to start, but one being planned may yet give segments to take.
      if (planning_ == 0) return std::nullopt;
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  std::vector<Job> jobs;
  try {
    jobs = policy_.plan(i, inputs_);
  } catch (...) {
    jobs.clear();
  }
  if (jobs.empty()) {
    Job whole;
    whole.input = i;
    jobs.push_back(whole);
  }
  {
    std::lock_guard lock(mu_);
    for (size_t k = 1; k < jobs.size(); ++k) pending_.push_back(jobs[k]);
    --planning_;
  }
  cv_.notify_all();
  return jobs.front();
}

}  // namespace vidinfer
