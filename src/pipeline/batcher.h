// The batcher: fills model batches from the slots of many jobs at once and hands them, in the order
// they were started, to the queue the model's thread reads; a job's completion goes into the queue
// after every batch that holds its frames. Two lanes: device batches (NVDEC-decoded frames, written
// by the kernels into tensors of the DevicePool) and host batches (libavcodec-decoded frames).
// Device-independent: it hands out slots and orders completions, it never touches a frame.
// Thread-safe: every worker claims and commits slots concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "pipeline/bounded_queue.h"
#include "pipeline/device_pool.h"
#include "pipeline/work.h"

namespace vidinfer {

class Batcher {
 public:
  enum Lane { kDevice = 0, kHost = 1, kNone = 2 };
  struct Open {
    Batch batch;
    int claimed = 0, committed = 0;
    bool sealed = false;      // no more claims: full, or flushed at the end
    uint64_t seq = 0;         // order of creation within its lane
    std::chrono::steady_clock::time_point first_claim{};
    std::vector<Item> after;  // job completions to deliver right after this batch
  };
  struct Claim {
    Open* open = nullptr;
    int k = 0;
  };

  // capacity: frames per batch; workers: how many call worker_exit() in the end; host_tensor makes
  // a host batch's tensor. max_wait > 0 (runs with live inputs): a batch is sent that long after
  // its first claim, however full (a thread of the batcher's own watches the clock).
  Batcher(BoundedQueue<Item>& queue, DevicePool* pool, int capacity, int workers,
          std::function<torch::Tensor()> host_tensor, double max_wait = 0);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Whether claim(lane) would return at once: a batch is being filled, or a new one can start now
  // (device: a tensor of the pool is free; host: the model's queue has room). A live input drops a
  // frame instead of waiting when this is false (LiveDrop::WhenFull). Advisory: another worker may
  // take the room first, and claim() then waits for the next.
  bool has_room(Lane lane);
  // Waits up to `seconds` (polling each millisecond) for has_room(lane), or until `stop` is set.
  bool wait_for_room(Lane lane, double seconds, const std::atomic<bool>& stop);

  // A slot of the lane's batch being filled; blocks while every device tensor is in use.
  Claim claim(Lane lane);
  // Sends the lane's batches now, however full, and returns once they are in the queue: whatever the
  // caller commits to another lane afterwards reaches the consumer after them.
  void flush(Lane lane);
  // The slot's content is written (device: the kernel is queued and the worker's event recorded).
  void commit(Lane lane, const Claim& c, const Slot& slot, int worker);
  // A job is over; `lane` is where its frames went (kNone: it produced none). With one worker the
  // job's partly filled batch is sent now, as a batch then never mixes inputs and results come out
  // exactly as one input after another would give them; with several, it fills up with other jobs'
  // frames.
  void job_done(Lane lane, JobDone d);
  // A worker has no more jobs; the last one out sends the partly filled batches and closes the queue.
  void worker_exit();

 private:
  void release_ready(Lane lane);
  void drain();
  void send_late_batches();  // the max_wait thread's loop

  BoundedQueue<Item>& queue_;
  DevicePool* pool_;
  const int capacity_;
  const int workers_;
  int active_;
  std::function<torch::Tensor()> host_tensor_;
  uint64_t created_[2] = {0, 0}, released_[2] = {0, 0};  // per lane: Open::seq of the last made / sent
  std::condition_variable released_cv_;
  std::mutex mu_, push_mu_;
  std::deque<std::unique_ptr<Open>> open_[2];
  std::deque<Item> outbox_;
  const std::chrono::duration<double> max_wait_;
  bool ending_ = false;  // under mu_: the max_wait thread stops
  std::condition_variable ending_cv_;
  std::thread late_;
};

}  // namespace vidinfer
