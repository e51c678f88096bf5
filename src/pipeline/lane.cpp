#include "pipeline/lane.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <exception>
#include <variant>

#include "common/timer.h"
#include "infer/model_stream.h"
#include "pipeline/batcher.h"
#include "pipeline/device_pool.h"
#include "pipeline/model_runner.h"
#include "pipeline/scheduler.h"

namespace vidinfer {

LaneResult run_lane(Engine& engine, int streams, const LaneShared& sh) {
  const RunOptions& opt = sh.opt;
  const torch::Device device = engine.device();
  // First: this thread's LibTorch work goes on its own stream (and device) from here on.
  ModelStream model_stream(device, 0, opt.tuning.stream_priority);
  LaneResult result;

  // The device batch tensors (the engine's, shared by its runs) and this run's events.
  DevicePool pool(engine.batch_tensors(), streams);
  const auto host_tensor = [&] {
    auto t = torch::empty({opt.spec.batch, 3, opt.spec.height, opt.spec.width}, torch::kFloat);
    return device.is_cuda() ? t.pin_memory() : t;
  };
  BoundedQueue<Item> queue(kBatchQueueDepth);
  // Live inputs: batches go after LiveOptions::max_batch_wait however full, and a finished batch's
  // results are handed out as soon as the model has nothing newer to run (not when the next comes).
  const bool live = std::any_of(sh.sources.begin(), sh.sources.end(), [](const InputSource& s) { return s.live(); });
  Batcher batcher(queue, &pool, opt.spec.batch, streams, host_tensor, live ? opt.live.max_batch_wait : 0);
  const JobContext ctx{opt, engine.decoders(), batcher, pool, sh.stop, sh.cancelled, sh.t0};
  Scheduler scheduler(streams, sh.jobs, sh.sources, ctx);

  // The model runs here, one step behind on the host (ModelRunner); results are routed in the order
  // the batches came.
  ModelRunner runner(engine, opt, pool, streams, sh.inputs, model_stream.handle());
  double waited = 0;
  uint64_t next_seq = 0;
  std::deque<std::variant<JobDone, uint64_t>> pending;  // in queue order: completions and batches in flight
  // Handles the oldest pending item if it is ready: a completion, or a batch the runner has finished.
  const auto settle_front = [&]() -> bool {
    if (pending.empty()) return false;
    if (auto* d = std::get_if<JobDone>(&pending.front())) {
      if (sh.name_device) d->summary.device = device.str();
      if (opt.skip_preprocess) result.frames += d->selected;
      std::lock_guard<std::mutex> lock(sh.reorder_mu);
      sh.reorder.job_done(*d);
      pending.pop_front();
      return true;
    }
    auto c = runner.take(std::get<uint64_t>(pending.front()));
    if (!c) return false;
    result.frames += static_cast<int64_t>(c->skipped_model ? c->slots.size() : c->results.size());
    std::lock_guard<std::mutex> lock(sh.reorder_mu);
    sh.reorder.commit(*c);
    pending.pop_front();
    return true;
  };
  // Should anything here throw, the workers must not wait for ever on a full queue or a busy pool.
  struct Unblock {
    std::atomic<bool>& stop;
    BoundedQueue<Item>& queue;
    DevicePool& pool;
    int exceptions = std::uncaught_exceptions();
    ~Unblock() {
      if (std::uncaught_exceptions() == exceptions) return;
      stop = true;
      queue.close();
      pool.free.close();
    }
  } unblock{sh.stop, queue, pool};
  while (true) {
    while (settle_front()) {
    }
    const auto t_wait = std::chrono::steady_clock::now();
    std::optional<Item> item;
    if (live) {
      bool closed = false;
      item = queue.pop_for(std::chrono::milliseconds(2), &closed);
      if (!item && !closed) {
        waited += seconds_since(t_wait);
        runner.flush();
        continue;
      }
    } else {
      item = queue.pop();
    }
    waited += seconds_since(t_wait);
    if (!item) break;
    if (auto* d = std::get_if<JobDone>(&*item)) {
      pending.emplace_back(std::move(*d));
      continue;
    }
    Batch& b = std::get<Batch>(*item);
    bool run_model = true;
    {
      std::lock_guard<std::mutex> lock(sh.reorder_mu);
      sh.reorder.expect(b);
      run_model = !sh.reorder.model_failed();
    }
    const uint64_t seq = next_seq++;
    pending.emplace_back(seq);
    runner.submit(seq, std::move(b), run_model);
  }
  runner.flush();
  while (settle_front()) {
  }
  runner.print_trace(waited);
  result.results_s = seconds_since(sh.t0);  // all results delivered; teardown below is not counted
  scheduler.join();
  result.stages = scheduler.stage_times();
  const double t_joined = seconds_since(sh.t0);
  scheduler.close_decoders();
  if (opt.tuning.trace > 0)
    std::fprintf(stderr, "vidinfer trace: run on %s: %zu input(s) on %d stream(s): results delivered %.1f ms, "
                 "workers joined %.1f ms, decoders closed %.1f ms\n", device.str().c_str(), sh.inputs.size(),
                 streams, result.results_s * 1e3, t_joined * 1e3, seconds_since(sh.t0) * 1e3);
  return result;
}

}  // namespace vidinfer
