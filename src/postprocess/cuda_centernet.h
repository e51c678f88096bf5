// CenterNet decoding on the GPU in two kernels (host launcher; no CUDA or LibTorch headers: pointers
// and the stream travel as integers). Hand-written because LibTorch has no fused peak-extraction op:
// the generic decoding (max_pool2d, ==, *, permute, topk over C*H*W per image, gather) makes several
// full passes over the heatmap plus a top-k over rows of a million elements, which at batch 64 cost
// milliseconds of GPU time per batch while the next forward runs beside it.
//
//  1. candidates: every heatmap element read once, in its own dtype, through a shared-memory tile of
//     32x8 cells plus a 1-cell halo (threads along x: coalesced rows of the NCHW map). An element is
//     kept when v >= score_threshold and no neighbour of its 3x3 window is greater or NaN (the
//     max_pool2d(3x3, stride 1, pad 1) peak rule: padding never wins, a NaN neighbour is the max).
//     Kept elements go to a per-image buffer of kCenterNetCap entries; the per-image count keeps
//     counting past the capacity, so the caller sees an overflow.
//  2. select: one block per image sorts its candidates (bitonic sort in shared memory) by score
//     descending, then NHWC index ascending (TensorFlow's flattening order, as the original decoding
//     ranks ties) and writes the first k as rows (x1, y1, x2, y2, score, class) from the box map.
#pragma once

#include <cstdint>

namespace vidinfer::cuda {

// Candidates per image the select kernel sorts: 4096 64-bit keys are 32 KiB, inside the 48 KiB of
// static shared memory a block may take, and far more than a detector's frame has above any useful
// threshold (the bundled CenterNet: tens at 0.3). Above it the caller decodes with LibTorch's ops.
constexpr int kCenterNetCap = 4096;

struct CenterNetParams {
  uintptr_t heatmap = 0;  // device [batch, classes, height, width], contiguous
  int heatmap_dtype = 0;  // 0 float32, 1 float16, 2 bfloat16
  uintptr_t boxes = 0;    // device [batch, 4, height, width], contiguous: distances to the left, top, right, bottom
  int boxes_dtype = 0;    // as heatmap_dtype
  int batch = 0, classes = 0, height = 0, width = 0;  // classes * height * width < 2^31
  float score_threshold = 0.f;
  int k = 0;              // rows per image at most (>= 1)
  float sx = 1.f, sy = 1.f;  // model-input pixels per heatmap cell
  // Device output, 4-byte words: [batch] int32 candidate counts (may exceed kCenterNetCap: overflow),
  // then [batch, k, 6] float rows; image i has min(count_i, k) valid rows when count_i <= kCenterNetCap.
  uintptr_t out = 0;
  uintptr_t scratch = 0;  // device, batch * kCenterNetCap uint64 (8-byte aligned)
};

// Queues both kernels (and the zeroing of the counts) on `stream`. Throws vidinfer::Error on a CUDA failure or bad parameters.
void launch_centernet(const CenterNetParams& p, uintptr_t stream);

}  // namespace vidinfer::cuda
