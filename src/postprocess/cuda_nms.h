// Greedy non-maximum suppression on the GPU (host launcher; no CUDA headers). Written here because
// torchvision's CUDA NMS is not available to a LibTorch-only C++ build. Two kernels on `stream`:
// one computes, for every box, a bitmask of the later boxes it suppresses (64 per word); one sweeps
// them in score order in a single block, so the whole pass stays on the device and only the kept
// flags remain (no host round trip).
#pragma once

#include <cstdint>

namespace vidinfer::cuda {

// Largest n the sweep takes (its removed-bits live in shared memory).
constexpr int kNmsMaxBoxes = 65536;

// boxes: device float32 [n, 4] xyxy, sorted by score, descending. mask: device scratch of
// n * ceil(n / 64) uint64. keep: device uint8 [n], set to 1 for kept boxes. A box is dropped when
// its IoU with a kept, higher-scoring box is > iou. Throws vidinfer::Error on a CUDA failure.
void launch_nms(uintptr_t boxes, int n, float iou, uintptr_t mask, uintptr_t keep, uintptr_t stream);

}  // namespace vidinfer::cuda
