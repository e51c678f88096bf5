#include "preprocess/cpu_preprocessor.h"

#include <algorithm>
#include <cstring>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace vidinfer {
namespace {

constexpr int kSwsFlags = SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP;

// swscale warns about the deprecated yuvj* formats; they are the plain formats with full range.
AVPixelFormat unjpeg(AVPixelFormat f, bool& full) {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P: full = true; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: full = true; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: full = true; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: full = true; return AV_PIX_FMT_YUV440P;
    default: return f;
  }
}

// Creates or reuses the context for (frame -> out_w x out_h RGB/BGR) and sets its colour details.
// Takes `cached` over, as sws_getCachedContext does: returns it, or a new context having freed it,
// or throws having freed it (sws_getCachedContext frees the old context before it tries to make the
// new one, and returns null when that fails).
SwsContext* prepare_sws(SwsContext* cached, const AVFrame* frame, int out_w, int out_h, AVPixelFormat out_fmt,
                        bool& changed, std::array<int, 5>& last) {
  const auto src_fmt = static_cast<AVPixelFormat>(frame->format);
  const ColourSpec cs =
      resolve_colour(read_color_space(frame->colorspace), read_color_range(frame->color_range), src_fmt, frame->height);
  bool full_dummy = false;
  const AVPixelFormat fmt = unjpeg(src_fmt, full_dummy);
  SwsContext* ctx = sws_getCachedContext(cached, frame->width, frame->height, fmt, out_w, out_h, out_fmt,
                                         kSwsFlags, nullptr, nullptr, nullptr);
  if (!ctx) {
    const char* name = av_get_pix_fmt_name(src_fmt);
    throw Error("cannot convert frame", "", std::string("unsupported pixel format ") + (name ? name : "?"));
  }
  const std::array<int, 5> key{cs.sws_matrix, cs.full_range, src_fmt, frame->width, frame->height};
  changed = ctx != cached || key != last;
  if (changed) {
    const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt);
    const bool src_rgb = d && (d->flags & AV_PIX_FMT_FLAG_RGB);
    // Output is always full-range RGB; the source matrix/range only matter for YUV inputs.
    sws_setColorspaceDetails(ctx, sws_getCoefficients(cs.sws_matrix), src_rgb ? 1 : cs.full_range,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    last = key;
  }
  return ctx;
}

}  // namespace

ColourSpec resolve_colour(AVColorSpace space, AVColorRange range, AVPixelFormat fmt, int height) {
  ColourSpec c;
  bool full = range == AVCOL_RANGE_JPEG;
  unjpeg(fmt, full);
  c.full_range = full;
  switch (space) {
    case AVCOL_SPC_BT709: c.sws_matrix = SWS_CS_ITU709; c.matrix_name = "bt709"; break;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M: c.sws_matrix = SWS_CS_ITU601; c.matrix_name = "bt601"; break;
    case AVCOL_SPC_FCC: c.sws_matrix = SWS_CS_FCC; c.matrix_name = "fcc"; break;
    case AVCOL_SPC_SMPTE240M: c.sws_matrix = SWS_CS_SMPTE240M; c.matrix_name = "smpte240m"; break;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL: c.sws_matrix = SWS_CS_BT2020; c.matrix_name = "bt2020"; break;
    default:
      c.sws_matrix = height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
      c.matrix_name = height >= 720 ? "bt709 (assumed)" : "bt601 (assumed)";
  }
  return c;
}

CpuPreprocessor::CpuPreprocessor(const ModelSpec& spec) : spec_(spec) {
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut_[c][v] = (v / 255.0f - spec_.mean[c]) / spec_.std[c];
}

Geometry CpuPreprocessor::run(const AVFrame* frame, float* dst, int rotation) {
  const Geometry g = plan_geometry(frame->width, frame->height, spec_, rotation);
  const AVPixelFormat out_fmt = spec_.channels == ChannelOrder::RGB ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24;
  // A quarter-turned frame is resized unturned (see unturn) and turned while it is copied below.
  const int rw = g.rotation % 180 ? g.scaled_h : g.scaled_w, rh = g.rotation % 180 ? g.scaled_w : g.scaled_h;
  bool changed = false;
  // Released first: whether it succeeds or throws, prepare_sws has the old context (see there).
  sws_.reset(prepare_sws(sws_.release(), frame, rw, rh, out_fmt, changed, sws_colour_));
  SwsContext* ctx = sws_.get();
  rgb_.resize(static_cast<size_t>(rw) * rh * 3);
  uint8_t* out_planes[4] = {rgb_.data(), nullptr, nullptr, nullptr};
  int out_strides[4] = {rw * 3, 0, 0, 0};
  sws_scale(ctx, frame->data, frame->linesize, 0, frame->height, out_planes, out_strides);

  const size_t plane = static_cast<size_t>(spec_.width) * spec_.height;
  if (spec_.resize == ResizeMode::Letterbox) {
    const int fill = std::clamp(spec_.letterbox_fill, 0, 255);
    for (int c = 0; c < 3; ++c) std::fill_n(dst + c * plane, plane, lut_[c][fill]);
  }
  // Copy the visible window of the scaled frame: [x0, x1) x [y0, y1) in model coordinates.
  const int x0 = std::max(0, g.offset_x), y0 = std::max(0, g.offset_y);
  const int x1 = std::min(spec_.width, g.offset_x + g.scaled_w);
  const int y1 = std::min(spec_.height, g.offset_y + g.scaled_h);
  for (int y = y0; y < y1; ++y) {
    float* d0 = dst + static_cast<size_t>(y) * spec_.width;
    float* d1 = d0 + plane;
    float* d2 = d1 + plane;
    if (g.rotation == 0) {
      const uint8_t* src = rgb_.data() + (static_cast<size_t>(y - g.offset_y) * rw + (x0 - g.offset_x)) * 3;
      for (int x = x0; x < x1; ++x, src += 3) {
        d0[x] = lut_[0][src[0]];
        d1[x] = lut_[1][src[1]];
        d2[x] = lut_[2][src[2]];
      }
      continue;
    }
    for (int x = x0; x < x1; ++x) {
      int a = 0, b = 0;
      unturn(g, x - g.offset_x, y - g.offset_y, a, b);
      const uint8_t* src = rgb_.data() + (static_cast<size_t>(b) * rw + a) * 3;
      d0[x] = lut_[0][src[0]];
      d1[x] = lut_[1][src[1]];
      d2[x] = lut_[2][src[2]];
    }
  }
  return g;
}

std::vector<uint8_t> frame_to_rgb24(const AVFrame* frame, int out_w, int out_h) {
  bool changed = false;
  std::array<int, 5> last{-1, -1, -1, -1, -1};
  UniqueSwsContext ctx(prepare_sws(nullptr, frame, out_w, out_h, AV_PIX_FMT_RGB24, changed, last));
  std::vector<uint8_t> rgb(static_cast<size_t>(out_w) * out_h * 3);
  uint8_t* planes[4] = {rgb.data(), nullptr, nullptr, nullptr};
  int strides[4] = {out_w * 3, 0, 0, 0};
  sws_scale(ctx.get(), frame->data, frame->linesize, 0, frame->height, planes, strides);
  return rgb;
}

}  // namespace vidinfer
