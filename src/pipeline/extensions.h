// Extensions: what a binding built on the library (the Python module) adds to a Pipeline, in LibTorch
// types, which the public headers do not carry. Given to the Pipeline's constructor; all optional.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "infer/model.h"
#include "pipeline/work.h"
#include "vidinfer/options.h"

namespace vidinfer {

// One row of a batch handed to Extensions::on_batch: where its frame comes from.
struct BatchRow {
  size_t input = 0;         // index into the run's inputs
  int64_t frame_index = 0;  // in the input (the pipeline counts every decoded frame)
  double pts = 0;           // seconds
  int width = 0, height = 0;  // of the decoded frame
};

struct Extensions {
  using ModelFactory = std::function<std::unique_ptr<Model>(torch::Device)>;
  // Makes the model in place of loading RunOptions::model_path (e.g. a Python callable). Called once,
  // on the thread that makes the Pipeline, with the resolved device.
  ModelFactory make_model;
  // Decode + preprocess runs (RunOptions::skip_model) with no model: each batch as a model would
  // get it, `rows.size()` rows of [B,3,H,W] (in the model's dtype on the GPU path; float32 on the
  // host from the CPU path). The tensor is a view of a buffer the pipeline reuses once this returns:
  // copy what is kept; on the GPU it is ready on the calling thread's current stream (work queued
  // there after this call's start is ordered after its writers). Called on the run's calling thread,
  // in the order the batches leave the batcher. Rows never come from split inputs (the run must not
  // split inputs into segments: their frame indices are only known later).
  std::function<void(const torch::Tensor& batch, const std::vector<BatchRow>& rows)> on_batch;
};

}  // namespace vidinfer
