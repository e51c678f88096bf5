#include "pipeline/batcher.h"

#include "vidinfer/error.h"

namespace vidinfer {

Batcher::Batcher(BoundedQueue<Item>& queue, DevicePool* pool, int capacity, int workers,
                 std::function<torch::Tensor()> host_tensor, double max_wait)
    : queue_(queue),
      pool_(pool),
      capacity_(capacity),
      workers_(workers),
      active_(workers),
      host_tensor_(std::move(host_tensor)),
      max_wait_(max_wait) {
  if (max_wait > 0) late_ = std::thread([this] { send_late_batches(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard lock(mu_);
    ending_ = true;
  }
  ending_cv_.notify_all();
  if (late_.joinable()) late_.join();
}

bool Batcher::has_room(Lane lane) {
  std::lock_guard lock(mu_);
  const auto& open = open_[lane];
  if (!open.empty() && !open.back()->sealed) return true;
  return lane == kDevice ? pool_->free.size() > 0 : queue_.size() < queue_.capacity();
}

bool Batcher::wait_for_room(Lane lane, double seconds, const std::atomic<bool>& stop) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                            std::chrono::duration<double>(seconds));
  while (!has_room(lane)) {
    if (stop || std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Seals the batches whose first frame has waited max_wait, checking four times as often.
void Batcher::send_late_batches() {
  const auto step = std::max<std::chrono::steady_clock::duration>(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(max_wait_ / 4), std::chrono::milliseconds(1));
  std::unique_lock lock(mu_);
  while (!ending_) {
    ending_cv_.wait_for(lock, step, [&] { return ending_; });
    if (ending_) break;
    const auto now = std::chrono::steady_clock::now();
    bool sent = false;
    for (int l : {kDevice, kHost})
      for (auto& o : open_[l])
        if (!o->sealed && o->claimed > 0 && now - o->first_claim >= max_wait_) {
          o->sealed = true;
          release_ready(static_cast<Lane>(l));
          sent = true;
        }
    if (!sent) continue;
    lock.unlock();
    drain();
    lock.lock();
  }
}

Batcher::Claim Batcher::claim(Lane lane) {
  std::unique_lock lock(mu_);
  auto& open = open_[lane];
  while (true) {
    if (!open.empty() && !open.back()->sealed) {
      Open* o = open.back().get();
      if (o->claimed == 0) o->first_claim = std::chrono::steady_clock::now();
      const int k = o->claimed++;
      if (o->claimed == capacity_) o->sealed = true;
      return {o, k};
    }
    lock.unlock();
    auto fresh = std::make_unique<Open>();
    if (lane == kDevice) {
      auto p = pool_->free.pop();
      if (!p) throw Error("pipeline stopped");
      fresh->batch.pool_index = *p;
      fresh->batch.data = pool_->tensors[*p];
    } else {
      fresh->batch.data = host_tensor_();
    }
    fresh->batch.slots.resize(capacity_);
    lock.lock();
    if (!open.empty() && !open.back()->sealed) {  // another worker started one meanwhile
      if (lane == kDevice) pool_->free.push(fresh->batch.pool_index);
      continue;
    }
    fresh->seq = ++created_[lane];
    open.push_back(std::move(fresh));
  }
}

void Batcher::flush(Lane lane) {
  {
    std::unique_lock lock(mu_);
    auto& open = open_[lane];
    if (open.empty()) return;
    const uint64_t last = open.back()->seq;
    for (auto& o : open) o->sealed = true;
    release_ready(lane);
    released_cv_.wait(lock, [&] { return released_[lane] >= last; });
  }
  drain();
}

void Batcher::commit(Lane lane, const Claim& c, const Slot& slot, int worker) {
  {
    std::lock_guard lock(mu_);
    c.open->batch.slots[c.k] = slot;
    if (lane == kDevice) c.open->batch.writers.set(static_cast<size_t>(worker));
    ++c.open->committed;
    release_ready(lane);
  }
  drain();
}

void Batcher::job_done(Lane lane, JobDone d) {
  {
    std::lock_guard lock(mu_);
    if (active_ == 1 && workers_ == 1)
      for (int l : {kDevice, kHost}) {
        for (auto& o : open_[l]) o->sealed = true;
        release_ready(static_cast<Lane>(l));
      }
    auto& open = open_[lane == kNone ? kDevice : lane];
    Open* last = nullptr;
    if (lane != kNone && !open.empty()) last = open.back().get();
    if (last) {
      last->after.emplace_back(std::move(d));
    } else {
      outbox_.emplace_back(std::move(d));
    }
  }
  drain();
}

void Batcher::worker_exit() {
  bool last;
  {
    std::lock_guard lock(mu_);
    last = --active_ == 0;
    if (last)
      for (int lane : {kDevice, kHost}) {
        for (auto& o : open_[lane]) o->sealed = true;
        release_ready(static_cast<Lane>(lane));
      }
  }
  drain();
  if (last) queue_.close();
}

// Under mu_: moves the lane's leading batches that are sealed and fully written to the outbox.
void Batcher::release_ready(Lane lane) {
  auto& open = open_[lane];
  while (!open.empty() && open.front()->sealed && open.front()->committed == open.front()->claimed) {
    Open& o = *open.front();
    if (o.claimed == 0) {
      if (lane == kDevice) pool_->free.push(o.batch.pool_index);
    } else {
      o.batch.slots.resize(o.claimed);
      outbox_.emplace_back(std::move(o.batch));
    }
    for (auto& a : o.after) outbox_.push_back(std::move(a));
    released_[lane] = o.seq;
    open.pop_front();
    released_cv_.notify_all();
  }
}

// Pushes the outbox to the queue in order (blocking while the queue is full), outside mu_ so that
// other workers keep committing meanwhile.
void Batcher::drain() {
  std::lock_guard push_lock(push_mu_);
  std::deque<Item> items;
  {
    std::lock_guard lock(mu_);
    items.swap(outbox_);
  }
  for (auto& it : items) queue_.push(std::move(it));
}

}  // namespace vidinfer
