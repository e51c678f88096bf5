// RAII owners for FFmpeg objects and the check helper that turns FFmpeg return codes into
// vidinfer::Error. Every FFmpeg handle in the project is held by one of these.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "vidinfer/error.h"

namespace vidinfer {

struct AVFormatContextCloser {
  void operator()(AVFormatContext* c) const noexcept { avformat_close_input(&c); }
};
// An output (muxing) context: closes its file, then frees it.
struct AVOutputContextCloser {
  void operator()(AVFormatContext* c) const noexcept {
    if (c && c->pb && !(c->oformat->flags & AVFMT_NOFILE)) avio_closep(&c->pb);
    avformat_free_context(c);
  }
};
struct AVCodecContextFreer {
  void operator()(AVCodecContext* c) const noexcept { avcodec_free_context(&c); }
};
struct AVFrameFreer {
  void operator()(AVFrame* f) const noexcept { av_frame_free(&f); }
};
struct AVPacketFreer {
  void operator()(AVPacket* p) const noexcept { av_packet_free(&p); }
};
struct AVBSFContextFreer {
  void operator()(AVBSFContext* b) const noexcept { av_bsf_free(&b); }
};
struct SwsContextFreer {
  void operator()(SwsContext* s) const noexcept { sws_freeContext(s); }
};

using UniqueAVFormatContext = std::unique_ptr<AVFormatContext, AVFormatContextCloser>;
using UniqueAVOutputContext = std::unique_ptr<AVFormatContext, AVOutputContextCloser>;
using UniqueAVCodecContext = std::unique_ptr<AVCodecContext, AVCodecContextFreer>;
using UniqueAVFrame = std::unique_ptr<AVFrame, AVFrameFreer>;
using UniqueAVPacket = std::unique_ptr<AVPacket, AVPacketFreer>;
using UniqueAVBSFContext = std::unique_ptr<AVBSFContext, AVBSFContextFreer>;
using UniqueSwsContext = std::unique_ptr<SwsContext, SwsContextFreer>;

inline UniqueAVFrame make_av_frame() {
  UniqueAVFrame f(av_frame_alloc());
  if (!f) throw Error("out of memory allocating an AVFrame");
  return f;
}
inline UniqueAVPacket make_av_packet() {
  UniqueAVPacket p(av_packet_alloc());
  if (!p) throw Error("out of memory allocating an AVPacket");
  return p;
}

inline std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// FFmpeg copies a bitstream's colour description into its enum fields (AVFrame::colorspace,
// AVCodecParameters::color_primaries, ...) without checking it: an MPEG-4, H.264 or HEVC header may
// carry any byte there. In C++, loading an enum that holds a value outside its range is undefined
// behaviour (the fuzzer found an MPEG-4 stream with matrix 127). Read such fields through this: the
// field's raw value when it is below `count` (the enum's *_NB), else `fallback`.
template <typename E>
E read_av_enum(const E& field, E count, E fallback) {
  static_assert(std::is_enum_v<E>);
  std::underlying_type_t<E> raw;
  static_assert(sizeof raw == sizeof field);
  std::memcpy(&raw, &field, sizeof raw);  // no load of the enum type itself
  const auto v = static_cast<int64_t>(raw);
  return v >= 0 && v < static_cast<int64_t>(count) ? static_cast<E>(raw) : fallback;
}
inline AVColorSpace read_color_space(const AVColorSpace& f) { return read_av_enum(f, AVCOL_SPC_NB, AVCOL_SPC_UNSPECIFIED); }
inline AVColorRange read_color_range(const AVColorRange& f) { return read_av_enum(f, AVCOL_RANGE_NB, AVCOL_RANGE_UNSPECIFIED); }
inline AVColorPrimaries read_color_primaries(const AVColorPrimaries& f) {
  return read_av_enum(f, AVCOL_PRI_NB, AVCOL_PRI_UNSPECIFIED);
}
inline AVColorTransferCharacteristic read_color_trc(const AVColorTransferCharacteristic& f) {
  return read_av_enum(f, AVCOL_TRC_NB, AVCOL_TRC_UNSPECIFIED);
}

// Throws vidinfer::Error("<call> failed", input, "<FFmpeg's text> (at file:line)") on a negative code.
[[noreturn]] void throw_av_error(int code, const char* call, const std::string& input, const char* file,
                                 int line);

}  // namespace vidinfer

#define VI_AV_CHECK(call, input)                                                   \
  do {                                                                             \
    const int vi_av_rc_ = (call);                                                  \
    if (vi_av_rc_ < 0) ::vidinfer::throw_av_error(vi_av_rc_, #call, (input), __FILE__, __LINE__); \
  } while (0)
