#include "pipeline/scheduler.h"

namespace vidinfer {

Scheduler::Scheduler(int streams, JobSource& jobs, const std::vector<InputSource>& inputs, const JobContext& ctx) {
  for (int w = 0; w < streams; ++w) workers_.push_back(std::make_unique<WorkerState>(w, ctx.opt));
  for (int w = 0; w < streams; ++w)
    threads_.emplace_back([&jobs, &inputs, &ctx, state = workers_[w].get()] {
      while (auto job = jobs.next()) run_job(*job, inputs[job->input], *state, ctx);
      ctx.batcher.worker_exit();
    });
}

Scheduler::~Scheduler() {
  join();
  close_decoders();
}

void Scheduler::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Scheduler::close_decoders() { workers_.clear(); }

StageTimes Scheduler::stage_times() const {
  StageTimes t;
  for (const auto& w : workers_) {
    t.demux += w->times.demux;
    t.decode += w->times.decode;
    t.preprocess += w->times.preprocess;
  }
  return t;
}

}  // namespace vidinfer
