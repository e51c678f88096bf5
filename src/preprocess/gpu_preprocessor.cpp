#include "preprocess/gpu_preprocessor.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "decode/decoder.h"
#include "preprocess/cpu_preprocessor.h"

namespace vidinfer {
namespace {

void matrix_weights(int sws_matrix, float& kr, float& kb) {
  switch (sws_matrix) {
    case SWS_CS_ITU709: kr = 0.2126f; kb = 0.0722f; break;
    case SWS_CS_BT2020: kr = 0.2627f; kb = 0.0593f; break;
    case SWS_CS_SMPTE240M: kr = 0.212f; kb = 0.087f; break;
    case SWS_CS_FCC: kr = 0.30f; kb = 0.11f; break;
    default: kr = 0.299f; kb = 0.114f; break;  // BT.601 / SMPTE 170M / BT.470BG
  }
}

}  // namespace

GpuPreprocessor::GpuPreprocessor(const ModelSpec& spec) : spec_(spec) {}

cuda::PreprocessParams GpuPreprocessor::params(const AVFrame* frame, const Geometry& g, uintptr_t out) const {
  cuda::PreprocessParams p;
  p.luma = reinterpret_cast<uintptr_t>(frame->data[0]);
  p.chroma = reinterpret_cast<uintptr_t>(frame->data[1]);
  p.pitch = frame->linesize[0];
  p.src_w = frame->width;
  p.src_h = frame->height;
  p.sixteen_bit = frame->format == AV_PIX_FMT_P016LE;
  // The picture's own size (g is planned from it), which a frame NVDEC decoded smaller is not: an
  // untagged stream's matrix is guessed from the picture's height, as on the CPU path.
  const int shown_h = g.rotation % 180 ? g.src_w : g.src_h;
  const ColourSpec cs = resolve_colour(read_color_space(frame->colorspace), read_color_range(frame->color_range),
                                       static_cast<AVPixelFormat>(frame->format), shown_h);
  matrix_weights(cs.sws_matrix, p.kr, p.kb);
  // Code values in the sample's own scale: 8-bit, or 16-bit with 10-bit data in the high bits.
  const float unit = p.sixteen_bit ? 256.f : 1.f;
  if (cs.full_range) {
    const float maxv = p.sixteen_bit ? 1023.f * 64.f : 255.f;
    p.y_off = 0;
    p.y_scale = 1.f / maxv;
    p.c_off = 128.f * unit;
    p.c_scale = 1.f / maxv;
  } else {
    p.y_off = 16.f * unit;
    p.y_scale = 1.f / (219.f * unit);
    p.c_off = 128.f * unit;
    p.c_scale = 1.f / (224.f * unit);
  }
  // swscale sites 4:2:0 chroma vertically by whether the height is kept, whatever the width does: a
  // kept height goes through its unscaled vertical path (chroma row k centred on luma row 2k+1, the
  // last rows' window kept inside the plane), which the shifted tent approximates; a changed height
  // goes through its filters, which site chroma centred (2k+0.5). Measured against swscale: 1:1 mean
  // 0.005 max 1 level with the shift, 640x360 -> 512x512 mean 0.003 max 1 without it (46 with);
  // 96x64 -> 64x64 (testsrc2) mean 0.004 max 1 with it, 3.5 and 86 when the shift went with both
  // sizes kept only. Horizontally, chroma is sited alike either way.
  // (A quarter-turned frame is resized unturned, to scaled_h x scaled_w: see unturn.)
  // The reference is what swscale makes of the picture: a frame NVDEC already scaled to the scaled
  // size (decoded smaller than it shows) is read 1:1, but the reference for it resized, so its chroma
  // is sited centred too, as for any resize (NVDEC's output is its own resample, chroma included).
  const int rh = g.rotation % 180 ? g.scaled_w : g.scaled_h;  // (a quarter-turned frame is resized unturned)
  const bool same_height = rh == shown_h;
  p.chroma_shift_x = chroma_shift_x;
  p.chroma_shift_y = same_height ? chroma_shift_y : 0.f;
  p.chroma_clamp_last = same_height;
  p.dst_w = g.dst_w;
  p.dst_h = g.dst_h;
  p.scaled_w = g.scaled_w;
  p.scaled_h = g.scaled_h;
  p.offset_x = g.offset_x;
  p.offset_y = g.offset_y;
  p.rotation = g.rotation;
  const int fill = std::clamp(spec_.letterbox_fill, 0, 255);
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = spec_.mean[c];
    p.inv_std[c] = 1.f / spec_.std[c];
    p.fill[c] = (fill / 255.f - spec_.mean[c]) / spec_.std[c];
  }
  p.bgr = spec_.channels == ChannelOrder::BGR;
  p.out = out;
  p.kernel = kernel;
  p.out_dtype = spec_.dtype == DType::Float16 ? 1 : spec_.dtype == DType::BFloat16 ? 2 : 0;
  return p;
}

Geometry GpuPreprocessor::run(const AVFrame* frame, uintptr_t out, uintptr_t stream, int rotation) {
  if (!is_device_frame(frame)) throw Error("GPU preprocessing needs a device frame");
  // Planned from the picture's size: the surface may be NVDEC's scaled one (see shown_size), which
  // the kernel then reads 1:1 (its scale is the scaled size over the surface's).
  const auto [w, h] = shown_size(frame);
  const Geometry g = plan_geometry(w, h, spec_, rotation);
  cuda::launch_preprocess(params(frame, g, out), stream);
  return g;
}

}  // namespace vidinfer
