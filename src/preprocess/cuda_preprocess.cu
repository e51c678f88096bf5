#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>

#include "preprocess/cuda_preprocess.h"

#include "common/cuda.h"
#include "vidinfer/error.h"

namespace vidinfer::cuda {
namespace {

// Tent-filter taps along one axis for output coordinate `o` (in the scaled frame), the way swscale's
// bilinear filter downscales: support = max(1, 1/scale) source pixels each side.
struct Taps {
  int first, last;
  float centre, radius;
};

__device__ inline Taps taps(float o, float scale, float shift, int n) {
  Taps t;
  t.centre = (o + 0.5f) / scale - 0.5f + shift;
  t.radius = fmaxf(1.0f, 1.0f / scale);
  t.first = static_cast<int>(ceilf(t.centre - t.radius + 1e-4f));
  t.last = static_cast<int>(floorf(t.centre + t.radius - 1e-4f));
  if (t.last < t.first) t.first = t.last = static_cast<int>(rintf(t.centre));
  (void)n;
  return t;
}

__device__ inline float weight(const Taps& t, int i) { return fmaxf(0.f, 1.f - fabsf(i - t.centre) / t.radius); }

// The vertical chroma taps of source row `sy` (both kernels): chroma rows are half as many as luma
// rows, and swscale keeps the last output rows' chroma window inside the plane.
__device__ inline Taps chroma_row_taps(const PreprocessParams& p, int sy, float scale_y, int ch) {
  Taps cy = taps(sy, 2.f * scale_y, p.chroma_shift_y, ch);
  if (p.chroma_clamp_last && ch >= 2 && cy.centre > ch - 1.5f) {
    cy.centre = ch - 1.5f;
    cy.first = static_cast<int>(ceilf(cy.centre - cy.radius + 1e-4f));
    cy.last = static_cast<int>(floorf(cy.centre + cy.radius - 1e-4f));
  }
  return cy;
}

template <bool kSixteen>
__device__ inline float sample(const unsigned char* row, int x) {
  if (kSixteen) return reinterpret_cast<const unsigned short*>(row)[x];
  return row[x];
}

template <typename Out>
__device__ inline Out convert(float v);
template <>
__device__ inline float convert<float>(float v) { return v; }
template <>
__device__ inline __half convert<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ inline __nv_bfloat16 convert<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Colour conversion of one pixel's filtered samples (code values: Y, and the U, V of its chroma),
// quantisation and normalisation, written to the three planes of the output.
template <typename Out>
__device__ inline void store_rgb(const PreprocessParams& p, Out* out, size_t plane, size_t at, float Y, float U,
                                 float V) {
  const float yn = (Y - p.y_off) * p.y_scale;
  const float pb = (U - p.c_off) * p.c_scale;
  const float pr = (V - p.c_off) * p.c_scale;
  const float r = yn + 2.f * (1.f - p.kr) * pr;
  const float b = yn + 2.f * (1.f - p.kb) * pb;
  const float g = (yn - p.kr * r - p.kb * b) / (1.f - p.kr - p.kb);
  const float rgb[3] = {fminf(fmaxf(r, 0.f), 1.f), fminf(fmaxf(g, 0.f), 1.f), fminf(fmaxf(b, 0.f), 1.f)};
  for (int c = 0; c < 3; ++c) {
    // Quantised to 8-bit levels, as the CPU path's swscale RGB24 is (and as models were trained on):
    // without it the GPU input differs from the CPU path's by up to half a level everywhere, which
    // is enough to move a detector's peaks between neighbouring cells on small objects.
    const float v = floorf(rgb[p.bgr ? 2 - c : c] * 255.f + 0.5f) * (1.f / 255.f);
    out[c * plane + at] = convert<Out>((v - p.mean[c]) * p.inv_std[c]);
  }
}

// The direct kernel: one thread per output pixel sums the 2-D tent window itself (any rotation, any
// downscale). The separable kernel below gives the same values faster where it fits.
template <bool kSixteen, typename Out>
__global__ void preprocess_kernel(const PreprocessParams p) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.dst_w || y >= p.dst_h) return;
  Out* out = reinterpret_cast<Out*>(p.out);
  const size_t plane = static_cast<size_t>(p.dst_w) * p.dst_h;
  const size_t at = static_cast<size_t>(y) * p.dst_w + x;
  const int u = x - p.offset_x, v = y - p.offset_y;
  if (u < 0 || v < 0 || u >= p.scaled_w || v >= p.scaled_h) {
    for (int c = 0; c < 3; ++c) out[c * plane + at] = convert<Out>(p.fill[c]);
    return;
  }
  // A turned frame: the pixel (sx, sy) of the unturned, scaled frame (rw x rh) that (u, v) shows
  // (the same mapping as unturn() in geometry.h).
  const bool quarter = p.rotation == 90 || p.rotation == 270;
  const int rw = quarter ? p.scaled_h : p.scaled_w, rh = quarter ? p.scaled_w : p.scaled_h;
  int sx = u, sy = v;
  if (p.rotation == 90) {
    sx = v;
    sy = rh - 1 - u;
  } else if (p.rotation == 180) {
    sx = rw - 1 - u;
    sy = rh - 1 - v;
  } else if (p.rotation == 270) {
    sx = rw - 1 - v;
    sy = u;
  }
  const float scale_x = static_cast<float>(rw) / p.src_w;
  const float scale_y = static_cast<float>(rh) / p.src_h;
  const unsigned char* luma = reinterpret_cast<const unsigned char*>(p.luma);
  const unsigned char* chroma = reinterpret_cast<const unsigned char*>(p.chroma);

  // Luma.
  const Taps tx = taps(sx, scale_x, 0.f, p.src_w), ty = taps(sy, scale_y, 0.f, p.src_h);
  float acc = 0.f, wsum = 0.f;
  for (int j = ty.first; j <= ty.last; ++j) {
    const float wy = weight(ty, j);
    const unsigned char* row = luma + static_cast<size_t>(min(max(j, 0), p.src_h - 1)) * p.pitch;
    for (int i = tx.first; i <= tx.last; ++i) {
      const float w = wy * weight(tx, i);
      acc += w * sample<kSixteen>(row, min(max(i, 0), p.src_w - 1));
      wsum += w;
    }
  }
  const float Y = acc / wsum;

  // Chroma, from the half-size plane, sited left (co-sited with even luma columns) or centred.
  const int cw = (p.src_w + 1) / 2, ch = (p.src_h + 1) / 2;
  const Taps cx = taps(sx, 2.f * scale_x, p.chroma_shift_x, cw);
  const Taps cy = chroma_row_taps(p, sy, scale_y, ch);
  float au = 0.f, av = 0.f;
  wsum = 0.f;
  for (int j = cy.first; j <= cy.last; ++j) {
    const float wy = weight(cy, j);
    const unsigned char* row = chroma + static_cast<size_t>(min(max(j, 0), ch - 1)) * p.pitch;
    for (int i = cx.first; i <= cx.last; ++i) {
      const float w = wy * weight(cx, i);
      const int ci = min(max(i, 0), cw - 1);
      au += w * sample<kSixteen>(row, 2 * ci);
      av += w * sample<kSixteen>(row, 2 * ci + 1);
      wsum += w;
    }
  }
  store_rgb(p, out, plane, at, Y, au / wsum, av / wsum);
}

// The separable kernel. The tent filter is a product of a horizontal and a vertical weight, so a block
// first filters along rows the source rows its tile of output needs (one value per row and output
// column, kept in shared memory), then down the columns. Against the direct kernel this sums about
// half as many taps and computes each tap's weight once per block instead of once per pixel and
// row; the values are the same up to the order of float additions (and the weights' last bit).
// Rotation 0 and 180 only (a quarter turn swaps the axes: the direct kernel does those), and
// downscales of up to about 15x with tiles that fit in shared memory (see separable_layout).
//
// Measured on an H200 (vidinfer-preprocess-kernels, 1920x1080 NV12, GPU us per frame alone / with 8
// streams side by side): 224x224 stretch 16.4 / 4.5 (direct 23.6 / 11.7), 512x512 letterbox
// 15.3 / 8.0 (direct 28.4 / 17.7), 1920x1080 31.8 / 28.3 (direct 58.5 / 55.3). Tried and dropped:
// 512 or 1024 threads per block (faster alone on small outputs, slower side by side), and copying
// the source rows into shared memory with 4-byte loads first (slower: L1 already serves the taps).
constexpr int kTileW = 32, kTileH = 16, kMaxTaps = 32, kSepThreads = 256;
constexpr size_t kSharedBudget = 48 * 1024;

struct SepTables {
  float wxl[kMaxTaps][kTileW], wxc[kMaxTaps][kTileW];  // [tap][column]: a warp reads a row of them
  float wyl[kTileH][kMaxTaps], wyc[kTileH][kMaxTaps];
  int fxl[kTileW], nxl[kTileW], fxc[kTileW], nxc[kTileW];
  int fyl[kTileH], nyl[kTileH], fyc[kTileH], nyc[kTileH];
  int span[4][2];  // first and last source index needed: luma columns, chroma columns, luma rows, chroma rows
};

struct SepLayout {
  bool fits = false;
  int rows_l = 0, rows_c = 0;  // source rows a tile can need: luma, chroma
  size_t dynamic_bytes = 0;
};

__host__ __device__ inline float tent_radius(float scale) { return fmaxf(1.0f, 1.0f / scale); }

// Source positions n output positions in a row or column can need: their centres are (n - 1) /
// scale apart, each with taps within the radius of it (see taps), plus rounding.
__host__ inline int span_needed(float scale, int n) {
  return static_cast<int>(std::ceil((n - 1) / scale + 2.f * tent_radius(scale))) + 2;
}

__host__ inline int taps_needed(float scale) { return static_cast<int>(std::ceil(2.f * tent_radius(scale))) + 2; }

SepLayout separable_layout(const PreprocessParams& p) {
  SepLayout l;
  if (p.rotation != 0 && p.rotation != 180) return l;
  if (p.src_w <= 0 || p.src_h <= 0 || p.scaled_w <= 0 || p.scaled_h <= 0) return l;
  const float sx = static_cast<float>(p.scaled_w) / p.src_w, sy = static_cast<float>(p.scaled_h) / p.src_h;
  if (taps_needed(sx) > kMaxTaps || taps_needed(sy) > kMaxTaps) return l;
  l.rows_l = span_needed(sy, kTileH);
  l.rows_c = span_needed(2.f * sy, kTileH);
  l.dynamic_bytes = sizeof(float) * (static_cast<size_t>(l.rows_l) * kTileW + static_cast<size_t>(l.rows_c) * kTileW * 2);
  l.fits = l.dynamic_bytes + sizeof(SepTables) <= kSharedBudget;
  return l;
}

// One axis's taps for an output position: first source index, count, weights normalised to sum 1
// (each weight computed once, with the radius's reciprocal: the direct kernel divides, which can
// differ in the last bit).
__device__ inline void table_taps(const Taps& t, int* first, int* count, float* w, int stride) {
  int n = t.last - t.first + 1;
  n = min(max(n, 1), kMaxTaps);
  const float inv_r = 1.f / t.radius;
  float sum = 0.f;
  for (int k = 0; k < n; ++k) {
    const float wk = fmaxf(0.f, 1.f - fabsf(t.first + k - t.centre) * inv_r);
    w[k * stride] = wk;
    sum += wk;
  }
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int k = 0; k < n; ++k) w[k * stride] *= inv;
  *first = t.first;
  *count = n;
}

// The smallest `lo` and largest `hi` over a warp's lanes.
__device__ inline void warp_range(int& lo, int& hi) {
  for (int o = 16; o > 0; o >>= 1) {
    lo = min(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = max(hi, __shfl_xor_sync(0xffffffffu, hi, o));
  }
}

template <bool kSixteen, typename Out>
__global__ void __launch_bounds__(kSepThreads) separable_kernel(const PreprocessParams p, SepLayout l) {
  __shared__ SepTables tb;
  extern __shared__ float dyn[];
  float* hl = dyn;                                          // [rows_l][kTileW]: luma rows filtered along x
  float* hc = hl + l.rows_l * kTileW;                       // [rows_c][kTileW][2]: chroma (U, V)
  const int tid = threadIdx.x;
  const int x0 = blockIdx.x * kTileW, y0 = blockIdx.y * kTileH;
  const bool flip = p.rotation == 180;
  const int rw = p.scaled_w, rh = p.scaled_h;
  const float scale_x = static_cast<float>(rw) / p.src_w;
  const float scale_y = static_cast<float>(rh) / p.src_h;
  const int cw = (p.src_w + 1) / 2, ch = (p.src_h + 1) / 2;

  // 1. The taps of this tile's columns and rows (none for those outside the scaled frame), a warp
  // each: luma columns, chroma columns, luma rows, chroma rows; and the source span each needs.
  const int warp = tid / 32, lane = tid % 32;
  if (warp < 2) {
    const int c = lane;
    const int u = x0 + c - p.offset_x;
    const bool in = x0 + c < p.dst_w && u >= 0 && u < rw;
    const int sx = flip ? rw - 1 - u : u;
    int* f = warp ? tb.fxc : tb.fxl;
    int* n = warp ? tb.nxc : tb.nxl;
    if (in) {
      if (warp == 0) table_taps(taps(sx, scale_x, 0.f, p.src_w), &f[c], &n[c], &tb.wxl[0][c], kTileW);
      else table_taps(taps(sx, 2.f * scale_x, p.chroma_shift_x, cw), &f[c], &n[c], &tb.wxc[0][c], kTileW);
    } else {
      n[c] = 0;
    }
    int lo = in ? f[c] : INT_MAX, hi = in ? f[c] + n[c] - 1 : INT_MIN;
    warp_range(lo, hi);
    if (lane == 0) tb.span[warp][0] = lo, tb.span[warp][1] = hi;
  } else if (warp < 4) {
    const int r = lane;
    const int v = y0 + r - p.offset_y;
    const bool in = r < kTileH && y0 + r < p.dst_h && v >= 0 && v < rh;
    const int sy = flip ? rh - 1 - v : v;
    int* f = warp == 3 ? tb.fyc : tb.fyl;
    int* n = warp == 3 ? tb.nyc : tb.nyl;
    if (in) {
      if (warp == 2) {
        table_taps(taps(sy, scale_y, 0.f, p.src_h), &f[r], &n[r], tb.wyl[r], 1);
      } else {
        table_taps(chroma_row_taps(p, sy, scale_y, ch), &f[r], &n[r], tb.wyc[r], 1);
      }
    } else if (r < kTileH) {
      n[r] = 0;
    }
    int lo = in ? f[r] : INT_MAX, hi = in ? f[r] + n[r] - 1 : INT_MIN;
    warp_range(lo, hi);
    if (lane == 0) tb.span[warp][0] = lo, tb.span[warp][1] = hi;
  }
  __syncthreads();
  // The source rows of the two planes this tile reads.
  const bool any_l = tb.span[2][1] >= tb.span[2][0] && tb.span[0][1] >= tb.span[0][0];
  const bool any_c = tb.span[3][1] >= tb.span[3][0] && tb.span[1][1] >= tb.span[1][0];
  const int row0_l = tb.span[2][0], rows_l = any_l ? min(tb.span[2][1] - row0_l + 1, l.rows_l) : 0;
  const int row0_c = tb.span[3][0], rows_c = any_c ? min(tb.span[3][1] - row0_c + 1, l.rows_c) : 0;

  // 2. Along x: each needed source row at each of the tile's columns (a warp takes one row).
  const unsigned char* luma = reinterpret_cast<const unsigned char*>(p.luma);
  const unsigned char* chroma = reinterpret_cast<const unsigned char*>(p.chroma);
  for (int i = tid; i < rows_l * kTileW; i += kSepThreads) {
    const int r = i / kTileW, c = i % kTileW, n = tb.nxl[c];
    if (!n) continue;
    const unsigned char* row = luma + static_cast<size_t>(min(max(row0_l + r, 0), p.src_h - 1)) * p.pitch;
    const int f = tb.fxl[c];
    float acc = 0.f;
    for (int k = 0; k < n; ++k) acc += tb.wxl[k][c] * sample<kSixteen>(row, min(max(f + k, 0), p.src_w - 1));
    hl[r * kTileW + c] = acc;
  }
  for (int i = tid; i < rows_c * kTileW; i += kSepThreads) {
    const int r = i / kTileW, c = i % kTileW, n = tb.nxc[c];
    if (!n) continue;
    const unsigned char* row = chroma + static_cast<size_t>(min(max(row0_c + r, 0), ch - 1)) * p.pitch;
    const int f = tb.fxc[c];
    float au = 0.f, av = 0.f;
    for (int k = 0; k < n; ++k) {
      const float w = tb.wxc[k][c];
      const int ci = min(max(f + k, 0), cw - 1);
      au += w * sample<kSixteen>(row, 2 * ci);
      av += w * sample<kSixteen>(row, 2 * ci + 1);
    }
    hc[(r * kTileW + c) * 2] = au;
    hc[(r * kTileW + c) * 2 + 1] = av;
  }
  __syncthreads();

  // 3. Down y, colour, write (a warp takes one output row).
  Out* out = reinterpret_cast<Out*>(p.out);
  const size_t plane = static_cast<size_t>(p.dst_w) * p.dst_h;
  for (int i = tid; i < kTileW * kTileH; i += kSepThreads) {
    const int c = i % kTileW, r = i / kTileW;
    const int x = x0 + c, y = y0 + r;
    if (x >= p.dst_w || y >= p.dst_h) continue;
    const size_t at = static_cast<size_t>(y) * p.dst_w + x;
    if (!tb.nxl[c] || !tb.nyl[r]) {
      for (int k = 0; k < 3; ++k) out[k * plane + at] = convert<Out>(p.fill[k]);
      continue;
    }
    float Y = 0.f, U = 0.f, V = 0.f;
    for (int k = 0, j = tb.fyl[r] - row0_l; k < tb.nyl[r]; ++k, ++j) Y += tb.wyl[r][k] * hl[j * kTileW + c];
    for (int k = 0, j = tb.fyc[r] - row0_c; k < tb.nyc[r]; ++k, ++j) {
      U += tb.wyc[r][k] * hc[(j * kTileW + c) * 2];
      V += tb.wyc[r][k] * hc[(j * kTileW + c) * 2 + 1];
    }
    store_rgb(p, out, plane, at, Y, U, V);
  }
}

template <bool kSixteen>
cudaError_t launch_typed(const PreprocessParams& p, cudaStream_t s, dim3 grid, dim3 block) {
  switch (p.out_dtype) {
    case 1: preprocess_kernel<kSixteen, __half><<<grid, block, 0, s>>>(p); break;
    case 2: preprocess_kernel<kSixteen, __nv_bfloat16><<<grid, block, 0, s>>>(p); break;
    default: preprocess_kernel<kSixteen, float><<<grid, block, 0, s>>>(p); break;
  }
  return cudaGetLastError();
}

template <bool kSixteen>
cudaError_t launch_separable(const PreprocessParams& p, const SepLayout& l, cudaStream_t s) {
  const dim3 grid((p.dst_w + kTileW - 1) / kTileW, (p.dst_h + kTileH - 1) / kTileH);
  switch (p.out_dtype) {
    case 1: separable_kernel<kSixteen, __half><<<grid, kSepThreads, l.dynamic_bytes, s>>>(p, l); break;
    case 2: separable_kernel<kSixteen, __nv_bfloat16><<<grid, kSepThreads, l.dynamic_bytes, s>>>(p, l); break;
    default: separable_kernel<kSixteen, float><<<grid, kSepThreads, l.dynamic_bytes, s>>>(p, l); break;
  }
  return cudaGetLastError();
}

}  // namespace

namespace {
// The kernel for p (0 none, 1 direct, 2 separable) and, for the separable one, its layout.
int kernel_choice(const PreprocessParams& p, SepLayout* layout) {
  if (p.kernel == 1) return 1;
  *layout = separable_layout(p);
  return layout->fits ? 2 : (p.kernel == 2 ? 0 : 1);
}
}  // namespace

int preprocess_kernel_choice(const PreprocessParams& p) {
  SepLayout l;
  return kernel_choice(p, &l);
}

void launch_preprocess(const PreprocessParams& p, uintptr_t stream) {
  cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  (void)cudaGetLastError();  // an earlier call's error must not be reported as this launch's
  cudaError_t rc;
  SepLayout l;
  const int choice = kernel_choice(p, &l);
  if (choice == 0)
    throw Error("cannot preprocess a frame on the GPU", "",
                "the separable preprocessing kernel does not take this rotation or downscale");
  if (choice == 2) {
    rc = p.sixteen_bit ? launch_separable<true>(p, l, s) : launch_separable<false>(p, l, s);
  } else {
    const dim3 block(32, 8);
    const dim3 grid((p.dst_w + block.x - 1) / block.x, (p.dst_h + block.y - 1) / block.y);
    rc = p.sixteen_bit ? launch_typed<true>(p, s, grid, block) : launch_typed<false>(p, s, grid, block);
  }
  check(rc, "the preprocessing kernel failed to launch");
}

}  // namespace vidinfer::cuda
