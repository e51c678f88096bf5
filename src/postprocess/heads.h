// Task heads: turn a model's batch output into per-frame results. Inputs are the IValue returned by
// the model (any device); results come back as plain vidinfer types in frame pixel coordinates.
// Stateless functions; thread-safe.
#pragma once

#include <torch/script.h>

#include <string>
#include <vector>

#include "preprocess/geometry.h"
#include "vidinfer/options.h"
#include "vidinfer/results.h"

namespace vidinfer {

// A short description of an output ("Tensor[8, 1000] Float", "tuple(Tensor[...], list[2])").
std::string describe(const torch::jit::IValue& v);

struct ClassifyParams {
  int topk = 5;
  Activation activation = Activation::Softmax;
  int label_offset = 0;
};

// out: [B, C] (or [B, C, 1, 1]). Returns `batch` lists of top-k classes. Throws vidinfer::Error
// ("model output does not fit task classify ...") on any other shape.
std::vector<std::vector<ClassScore>> classify_head(const torch::jit::IValue& out, int batch,
                                                   const ClassifyParams& p,
                                                   const std::vector<std::string>& labels);

struct DetectParams {
  DetectLayout layout = DetectLayout::BoxesScoresLabels;
  BoxFormat box_format = BoxFormat::XYXY;
  bool boxes_normalized = false;
  Activation score_activation = Activation::None;
  int label_offset = 0;
  float score_threshold = 0.3f;
  float iou_threshold = 0.5f;
  int max_detections = 100;
  int pre_nms_topk = 4096;  // dense heads: candidates kept before NMS
};

// The heads' parameters as a run's options set them (the model's spec and the task flags).
ClassifyParams classify_params(const RunOptions& o);
DetectParams detect_params(const RunOptions& o);

// geometries[i]: where frame i sits in the model input (to map boxes back to its pixels).
std::vector<std::vector<Detection>> detect_head(const torch::jit::IValue& out,
                                                const std::vector<Geometry>& geometries,
                                                const DetectParams& p, const std::vector<std::string>& labels);

// How CenterNet batches on CUDA tensors were decoded, counted since the process started (for tests
// and diagnostics): `fused` by the two kernels of postprocess/cuda_centernet.cu; `torch` by LibTorch's
// ops (the CPU path's code, run on the device), of which `overflow` were handed back by the kernels
// because a frame had more than cuda::kCenterNetCap peaks above the threshold.
struct CenterNetGpuCounts {
  int64_t fused = 0, torch = 0, overflow = 0;
};
CenterNetGpuCounts centernet_gpu_counts();

// Greedy non-maximum suppression. boxes [N,4] xyxy, scores [N]. Returns the kept indices (int64, on
// the boxes' device: CUDA tensors are suppressed on the GPU), highest score first. A box is dropped when its IoU with a kept, higher-scoring box is > iou.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, float iou);
// Class-aware NMS: boxes of different classes never suppress each other.
torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& classes,
                          float iou);

}  // namespace vidinfer
