// The device batch tensors of one run and the events that order their reuse. `done[p]` is recorded
// by the model's stream when it has read tensor p; `written[w][p]` by worker w's stream after its
// last write into p. A tensor index is in `free` when no batch is being filled into it or read from
// it. The tensors belong to the Engine (kept between runs); the events to the run.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "common/cuda.h"
#include "pipeline/bounded_queue.h"

namespace vidinfer {

struct DevicePool {
  std::vector<torch::Tensor> tensors;
  std::vector<cuda::Event> done;
  std::vector<std::vector<cuda::Event>> written;
  BoundedQueue<int> free;

  // Empty (no tensors: the CPU path) unless `tensors` is given; events for `workers` workers.
  DevicePool(std::vector<torch::Tensor> ts, int workers) : tensors(std::move(ts)), free(tensors.size() + 1) {
    written.resize(tensors.empty() ? 0 : static_cast<size_t>(workers));
    for (size_t p = 0; p < tensors.size(); ++p) {
      done.push_back(cuda::Event::make());
      for (auto& w : written) w.push_back(cuda::Event::make());
      free.push(static_cast<int>(p));
    }
  }
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;
};

}  // namespace vidinfer
