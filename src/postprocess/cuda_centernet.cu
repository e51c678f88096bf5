#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "postprocess/cuda_centernet.h"

#include "common/cuda.h"
#include "vidinfer/error.h"

namespace vidinfer::cuda {
namespace {

// Candidate tile: 32 threads along x make each warp read one contiguous row of the NCHW plane
// (coalesced; 64-128 bytes in the 16-bit dtypes), 8 rows so the 1-cell halo costs 340 loads for 256
// cells. Halo rows that neighbouring blocks share are served by L2: the map comes from DRAM ~once.
constexpr int kTileW = 32, kTileH = 8;
constexpr int kTileThreads = kTileW * kTileH;
constexpr int kHaloW = kTileW + 2, kHaloH = kTileH + 2;
// Select: one block per image; 1024 threads do a 4096-key bitonic stage in two compare-swaps each.
constexpr int kSelectThreads = 1024;
constexpr unsigned long long kPadKey = ~0ull;  // sorts last; no candidate has it (it would be a NaN score)

template <typename T>
__device__ inline float to_float(T v);
template <>
__device__ inline float to_float<float>(float v) { return v; }
template <>
__device__ inline float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ inline float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

// One 64-bit key whose ascending order is (score descending, NHWC index ascending), so that one
// integer sort ranks both and ties rank as in TensorFlow's decoding. The score's bits are made
// monotone (negatives flipped, positives' sign set), then inverted for the descending order. (-0 and
// +0 rank apart; the caller sends no threshold <= 0 here.)
__device__ inline unsigned long long make_key(float score, unsigned index) {
  unsigned bits = __float_as_uint(score);
  bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<unsigned long long>(~bits) << 32) | index;
}

__device__ inline float key_score(unsigned long long key) {
  const unsigned bits = ~static_cast<unsigned>(key >> 32);
  return __uint_as_float((bits & 0x80000000u) ? (bits & 0x7fffffffu) : ~bits);
}

// Blocks stride over (plane, row of tiles) pairs along grid.y, so any batch * classes * height fits
// the grid's 65535 limit. Every thread of a block runs the same number of turns (barriers inside).
template <typename T>
__global__ void __launch_bounds__(kTileThreads)
    candidates_kernel(const T* __restrict__ hm, long long planes, int classes, int h, int w, float threshold,
                      int* __restrict__ counts, unsigned long long* __restrict__ cand) {
  __shared__ float tile[kHaloH][kHaloW];
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kTileW + tx, lane = tid & 31;
  const int x0 = blockIdx.x * kTileW, x = x0 + tx;
  const long long tile_rows = (h + kTileH - 1) / kTileH;
  for (long long turn = blockIdx.y; turn < planes * tile_rows; turn += gridDim.y) {
    const long long plane = turn / tile_rows;
    const int y0 = static_cast<int>(turn % tile_rows) * kTileH, y = y0 + ty;
    const T* src = hm + plane * h * w;
    __syncthreads();  // the previous turn's tile has been read
    for (int i = tid; i < kHaloH * kHaloW; i += kTileThreads) {
      const int gy = y0 - 1 + i / kHaloW, gx = x0 - 1 + i % kHaloW;
      // Outside the map: -inf, which never beats a cell (max_pool2d's padding).
      tile[i / kHaloW][i % kHaloW] =
          gy >= 0 && gy < h && gx >= 0 && gx < w ? to_float(src[static_cast<long long>(gy) * w + gx]) : -INFINITY;
    }
    __syncthreads();
    const float v = tile[ty + 1][tx + 1];
    bool keep = x < w && y < h && v >= threshold;  // NaN fails here
    // A peak: no neighbour greater, and none NaN (max_pool2d propagates NaN, so NaN is the max).
    for (int dy = 0; dy < 3 && keep; ++dy)
      for (int dx = 0; dx < 3; ++dx) keep = keep && tile[ty + dy][tx + dx] <= v;
    // One atomic per warp: a warp's cells are all of one plane, so of one image.
    const unsigned mask = __ballot_sync(0xffffffffu, keep);
    if (mask == 0) continue;
    const int b = static_cast<int>(plane / classes), c = static_cast<int>(plane % classes);
    int base = 0;
    if (lane == 0) base = atomicAdd(counts + b, __popc(mask));
    base = __shfl_sync(0xffffffffu, base, 0);
    if (!keep) continue;
    const int slot = base + __popc(mask & ((1u << lane) - 1u));
    if (slot < kCenterNetCap) {
      const unsigned index = static_cast<unsigned>((static_cast<long long>(y) * w + x) * classes + c);
      cand[static_cast<long long>(b) * kCenterNetCap + slot] = make_key(v, index);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kSelectThreads)
    select_kernel(const unsigned long long* __restrict__ cand, const int* __restrict__ counts,
                  const T* __restrict__ boxes, int classes, int h, int w, int k, float sx, float sy,
                  float* __restrict__ rows) {
  __shared__ unsigned long long keys[kCenterNetCap];
  const int b = blockIdx.x;
  const int count = counts[b];
  if (count > kCenterNetCap) return;  // overflow: the caller decodes this batch with LibTorch's ops
  int size = 1;
  while (size < count) size <<= 1;
  const unsigned long long* src = cand + static_cast<long long>(b) * kCenterNetCap;
  for (int i = threadIdx.x; i < size; i += blockDim.x) keys[i] = i < count ? src[i] : kPadKey;
  __syncthreads();
  // Bitonic sort, ascending, of the power-of-two padded keys; each pass compares size / 2 pairs.
  for (int len = 2; len <= size; len <<= 1) {
    for (int stride = len >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < size / 2; t += blockDim.x) {
        const int i = 2 * stride * (t / stride) + t % stride, j = i + stride;
        const unsigned long long a = keys[i], c = keys[j];
        if ((a > c) == ((i & len) == 0)) {
          keys[i] = c;
          keys[j] = a;
        }
      }
      __syncthreads();
    }
  }
  const int m = min(count, k);
  const long long plane = static_cast<long long>(h) * w;
  const T* box = boxes + static_cast<long long>(b) * 4 * plane;
  float* out = rows + static_cast<long long>(b) * k * 6;
  for (int r = threadIdx.x; r < m; r += blockDim.x) {
    const unsigned long long key = keys[r];
    const unsigned index = static_cast<unsigned>(key & 0xffffffffu);
    const int c = static_cast<int>(index % classes), cell = static_cast<int>(index / classes);
    const float cx = static_cast<float>(cell % w), cy = static_cast<float>(cell / w);
    // Each product and sum rounded on its own (no FMA contraction), as LibTorch's separate ops do.
    const float px = __fmul_rn(cx, sx), py = __fmul_rn(cy, sy);
    out[r * 6 + 0] = __fsub_rn(px, to_float(box[cell]));
    out[r * 6 + 1] = __fsub_rn(py, to_float(box[plane + cell]));
    out[r * 6 + 2] = __fadd_rn(px, to_float(box[2 * plane + cell]));
    out[r * 6 + 3] = __fadd_rn(py, to_float(box[3 * plane + cell]));
    out[r * 6 + 4] = key_score(key);
    out[r * 6 + 5] = static_cast<float>(c);
  }
}

template <typename T>
cudaError_t launch_candidates(const CenterNetParams& p, cudaStream_t s) {
  const long long planes = static_cast<long long>(p.batch) * p.classes;
  const long long turns = planes * ((p.height + kTileH - 1) / kTileH);
  const dim3 grid((p.width + kTileW - 1) / kTileW, static_cast<unsigned>(turns < 65535 ? turns : 65535));
  candidates_kernel<T><<<grid, dim3(kTileW, kTileH), 0, s>>>(
      reinterpret_cast<const T*>(p.heatmap), planes, p.classes, p.height, p.width, p.score_threshold,
      reinterpret_cast<int*>(p.out), reinterpret_cast<unsigned long long*>(p.scratch));
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_select(const CenterNetParams& p, cudaStream_t s) {
  select_kernel<T><<<p.batch, kSelectThreads, 0, s>>>(
      reinterpret_cast<const unsigned long long*>(p.scratch), reinterpret_cast<const int*>(p.out),
      reinterpret_cast<const T*>(p.boxes), p.classes, p.height, p.width, p.k, p.sx, p.sy,
      reinterpret_cast<float*>(p.out) + p.batch);
  return cudaGetLastError();
}

}  // namespace

void launch_centernet(const CenterNetParams& p, uintptr_t stream) {
  constexpr const char* kWhat = "GPU CenterNet decoding failed";
  if (p.batch <= 0) return;
  if (p.classes < 1 || p.height < 1 || p.width < 1 || p.k < 1) throw Error(kWhat, "", "empty heatmap or k < 1");
  if (static_cast<long long>(p.classes) * p.height * p.width > 0x7fffffffLL)
    throw Error(kWhat, "", "classes * height * width must be below 2^31");
  if (p.heatmap_dtype < 0 || p.heatmap_dtype > 2 || p.boxes_dtype < 0 || p.boxes_dtype > 2)
    throw Error(kWhat, "", "maps must be float32, float16 or bfloat16");
  if (p.scratch % alignof(unsigned long long) != 0) throw Error(kWhat, "", "scratch not 8-byte aligned");
  cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  clear_launch_error();  // an earlier call's error must not be reported as this launch's
  check(cudaMemsetAsync(reinterpret_cast<void*>(p.out), 0, sizeof(int) * p.batch, s), kWhat);
  switch (p.heatmap_dtype) {
    case 1: check(launch_candidates<__half>(p, s), kWhat); break;
    case 2: check(launch_candidates<__nv_bfloat16>(p, s), kWhat); break;
    default: check(launch_candidates<float>(p, s), kWhat); break;
  }
  switch (p.boxes_dtype) {
    case 1: check(launch_select<__half>(p, s), kWhat); break;
    case 2: check(launch_select<__nv_bfloat16>(p, s), kWhat); break;
    default: check(launch_select<float>(p, s), kWhat); break;
  }
}

}  // namespace vidinfer::cuda
