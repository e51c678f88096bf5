#include <cuda_runtime.h>

#include "postprocess/cuda_nms.h"

#include "common/cuda.h"
#include "vidinfer/error.h"

namespace vidinfer::cuda {
namespace {

constexpr int kBlock = 64;

// inter > iou * union, as the host NMS computes it (no division, so empty boxes never suppress).
__device__ inline bool overlaps(const float* a, const float* b, float iou) {
  const float iw = fmaxf(0.f, fminf(a[2], b[2]) - fmaxf(a[0], b[0]));
  const float ih = fmaxf(0.f, fminf(a[3], b[3]) - fmaxf(a[1], b[1]));
  const float inter = iw * ih;
  const float area_a = fmaxf(0.f, a[2] - a[0]) * fmaxf(0.f, a[3] - a[1]);
  const float area_b = fmaxf(0.f, b[2] - b[0]) * fmaxf(0.f, b[3] - b[1]);
  return inter > iou * (area_a + area_b - inter);
}

__global__ void mask_kernel(const float* __restrict__ boxes, int n, float iou, unsigned long long* __restrict__ mask,
                            int words) {
  const int row_block = blockIdx.y, col_block = blockIdx.x;
  const int rows = min(n - row_block * kBlock, kBlock), cols = min(n - col_block * kBlock, kBlock);
  __shared__ float tile[kBlock * 4];
  if (threadIdx.x < cols)
    for (int k = 0; k < 4; ++k) tile[threadIdx.x * 4 + k] = boxes[(col_block * kBlock + threadIdx.x) * 4 + k];
  __syncthreads();
  if (threadIdx.x >= rows) return;
  const int i = row_block * kBlock + threadIdx.x;
  float box[4];
  for (int k = 0; k < 4; ++k) box[k] = boxes[i * 4 + k];
  unsigned long long bits = 0;
  for (int j = row_block == col_block ? threadIdx.x + 1 : 0; j < cols; ++j)
    if (overlaps(box, tile + j * 4, iou)) bits |= 1ULL << j;
  mask[static_cast<size_t>(i) * words + col_block] = bits;
}

// One block: boxes in score order; a box is kept unless an earlier kept box removed it. Row i of the
// mask only has bits of boxes after i in i's own word, so bit i is final when it is read.
__global__ void sweep_kernel(const unsigned long long* __restrict__ mask, int n, int words, unsigned char* keep) {
  extern __shared__ unsigned long long removed[];
  for (int w = threadIdx.x; w < words; w += blockDim.x) removed[w] = 0;
  __syncthreads();
  for (int i = 0; i < n; ++i) {
    const bool alive = !((removed[i / kBlock] >> (i % kBlock)) & 1ULL);
    if (alive)
      for (int w = threadIdx.x; w < words; w += blockDim.x) removed[w] |= mask[static_cast<size_t>(i) * words + w];
    if (threadIdx.x == 0) keep[i] = alive ? 1 : 0;
    __syncthreads();
  }
}

}  // namespace

void launch_nms(uintptr_t boxes, int n, float iou, uintptr_t mask, uintptr_t keep, uintptr_t stream) {
  if (n <= 0) return;
  if (n > kNmsMaxBoxes) throw Error("GPU NMS failed", "", "too many boxes for the GPU NMS");
  clear_launch_error();
  const int words = (n + kBlock - 1) / kBlock;
  auto s = reinterpret_cast<cudaStream_t>(stream);
  mask_kernel<<<dim3(words, words), kBlock, 0, s>>>(reinterpret_cast<const float*>(boxes), n, iou,
                                                    reinterpret_cast<unsigned long long*>(mask), words);
  check_launch("GPU NMS failed");
  sweep_kernel<<<1, 256, words * sizeof(unsigned long long), s>>>(reinterpret_cast<const unsigned long long*>(mask), n,
                                                                  words, reinterpret_cast<unsigned char*>(keep));
  check_launch("GPU NMS failed");
}

}  // namespace vidinfer::cuda
