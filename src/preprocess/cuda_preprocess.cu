#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "preprocess/cuda_preprocess.h"

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
  Taps cy = taps(sy, 2.f * scale_y, p.chroma_shift_y, ch);
  if (p.chroma_clamp_last && ch >= 2 && cy.centre > ch - 1.5f) {  // swscale keeps the last rows' chroma window inside the plane
    cy.centre = ch - 1.5f;
    cy.first = static_cast<int>(ceilf(cy.centre - cy.radius + 1e-4f));
    cy.last = static_cast<int>(floorf(cy.centre + cy.radius - 1e-4f));
  }
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
  const float yn = (Y - p.y_off) * p.y_scale;
  const float pb = (au / wsum - p.c_off) * p.c_scale;
  const float pr = (av / wsum - p.c_off) * p.c_scale;
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

template <bool kSixteen>
cudaError_t launch_typed(const PreprocessParams& p, cudaStream_t s, dim3 grid, dim3 block) {
  switch (p.out_dtype) {
    case 1: preprocess_kernel<kSixteen, __half><<<grid, block, 0, s>>>(p); break;
    case 2: preprocess_kernel<kSixteen, __nv_bfloat16><<<grid, block, 0, s>>>(p); break;
    default: preprocess_kernel<kSixteen, float><<<grid, block, 0, s>>>(p); break;
  }
  return cudaGetLastError();
}

}  // namespace

const char* launch_preprocess(const PreprocessParams& p, uintptr_t stream) {
  const dim3 block(32, 8);
  const dim3 grid((p.dst_w + block.x - 1) / block.x, (p.dst_h + block.y - 1) / block.y);
  cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  (void)cudaGetLastError();  // an earlier call's error must not be reported as this launch's
  const cudaError_t rc = p.sixteen_bit ? launch_typed<true>(p, s, grid, block) : launch_typed<false>(p, s, grid, block);
  return rc == cudaSuccess ? "" : cudaGetErrorString(rc);
}

bool kernels_available() { return true; }

}  // namespace vidinfer::cuda

namespace vidinfer::cuda {
namespace {
const char* text(cudaError_t rc) { return rc == cudaSuccess ? "" : cudaGetErrorString(rc); }
}  // namespace
const char* event_create(uintptr_t* event) {
  cudaEvent_t e = nullptr;
  const cudaError_t rc = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
  *event = reinterpret_cast<uintptr_t>(e);
  return text(rc);
}
const char* event_destroy(uintptr_t event) { return text(cudaEventDestroy(reinterpret_cast<cudaEvent_t>(event))); }
const char* event_record(uintptr_t event, uintptr_t stream) {
  return text(cudaEventRecord(reinterpret_cast<cudaEvent_t>(event), reinterpret_cast<cudaStream_t>(stream)));
}
const char* stream_wait_event(uintptr_t stream, uintptr_t event) {
  return text(cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(stream), reinterpret_cast<cudaEvent_t>(event), 0));
}
const char* event_synchronize(uintptr_t event) {
  return text(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(event)));
}
const char* event_create_timed(uintptr_t* event) {
  cudaEvent_t e = nullptr;
  const cudaError_t rc = cudaEventCreate(&e);
  *event = reinterpret_cast<uintptr_t>(e);
  return text(rc);
}
const char* event_elapsed_ms(uintptr_t start, uintptr_t end, float* ms) {
  return text(cudaEventElapsedTime(ms, reinterpret_cast<cudaEvent_t>(start), reinterpret_cast<cudaEvent_t>(end)));
}
}  // namespace vidinfer::cuda
