// What vidinfer bench measures around a mode besides its time: the peak device memory in use, this
// process's peak resident memory, and the CPU cores it kept busy (Sampler).
#pragma once

#include <torch/script.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "bench/clock.h"
#include "infer/device_info.h"

namespace vidinfer::bench {

// This process's resident memory now, MiB.
double rss_mib_now();
// This process's CPU time so far (user + system), seconds.
double cpu_seconds();

// Samples device memory in use and this process's RSS every 20 ms while a mode runs.
class Sampler {
 public:
  // `base_gpu`: the device memory in use before the mode's pipeline (or model graph) was made.
  Sampler(torch::Device device, int64_t base_gpu) : device_(device) {
    base_gpu_ = base_gpu;
    cpu0_ = cpu_seconds();
    t0_ = Clock::now();
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        lock.unlock();
        sample();
        lock.lock();
        cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return stop_; });
      }
    });
  }
  ~Sampler() { finish(); }
  void finish() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    sample();
    cpu_ = cpu_seconds() - cpu0_;
    wall_ = since(t0_);
  }
  double gpu_peak_mib() const { return base_gpu_ < 0 ? -1 : static_cast<double>(peak_gpu_ - base_gpu_) / (1 << 20); }
  double rss_peak_mib() const { return peak_rss_; }
  double cpu_cores() const { return wall_ > 0 ? cpu_ / wall_ : 0; }

 private:
  void sample() {
    const int64_t g = cuda_memory_used(device_);
    peak_gpu_ = std::max(peak_gpu_, g);
    peak_rss_ = std::max(peak_rss_, rss_mib_now());
  }
  torch::Device device_;
  int64_t base_gpu_ = -1, peak_gpu_ = -1;
  double peak_rss_ = 0, cpu0_ = 0, cpu_ = 0, wall_ = 0;
  Clock::time_point t0_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vidinfer::bench
