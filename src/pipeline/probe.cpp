#include "vidinfer/probe.h"

#include <cmath>

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "decode/nvdec_caps.h"
#include "demux/demuxer.h"
#include "demux/input_source.h"
#include "vidinfer/options.h"

namespace vidinfer {

ProbeInfo probe(const std::string& path) {
  const InputSource src = InputSource::of(path);
  DemuxOptions how;
  // A URL or pipe that sends nothing fails as `run` would fail it (LiveOptions' stall timeout), rather
  // than being waited for without end.
  if (src.kind() != InputSource::Kind::File) how.stall_timeout = LiveOptions{}.stall_timeout;
  Demuxer demux(path, how);
  const StreamInfo& st = demux.stream();
  const AVCodecParameters* par = st.codecpar;
  ProbeInfo p;
  p.input = path;
  p.container = st.container;
  p.stream_index = st.index;
  p.codec = avcodec_get_name(par->codec_id);
  if (const char* prof = avcodec_profile_name(par->codec_id, par->profile)) p.profile = prof;
  p.width = par->width;
  p.height = par->height;
  const auto fmt = static_cast<AVPixelFormat>(par->format);
  if (const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(fmt)) {
    p.pixel_format = d->name;
    p.bit_depth = d->comp[0].depth;
  } else {
    p.pixel_format = "unknown";
  }
  p.frame_rate = st.frame_rate.den ? av_q2d(st.frame_rate) : 0.0;
  p.duration = st.duration;
  auto name = [](const char* n) { return std::string(n ? n : "unknown"); };
  p.color_matrix = name(av_color_space_name(read_color_space(par->color_space)));
  p.color_range = name(av_color_range_name(read_color_range(par->color_range)));
  p.color_primaries = name(av_color_primaries_name(read_color_primaries(par->color_primaries)));
  p.color_transfer = name(av_color_transfer_name(read_color_trc(par->color_trc)));
  p.rotation = st.rotation;
  p.live = src.live() && !(src.may_be_recording() && length_stated(st));
  if (!p.live && st.nb_frames > 0) {
    p.frame_count = st.nb_frames;
  } else if (!p.live) {  // (a live stream's packets would be counted for ever)
    // The container does not say (Matroska, MPEG-TS, raw streams): count the packets, which is exact
    // for these codecs (one frame per packet) and cheap next to decoding.
    auto pkt = make_av_packet();
    int64_t n = 0;
    while (demux.read(pkt.get())) ++n;
    p.frame_count = n;
    p.frame_count_exact = true;
  }
  const GpuDecodeSupport gpu = nvdec_supports(par->codec_id, fmt, par->width, par->height);
  p.gpu_decode = gpu.supported;
  p.gpu_reason = gpu.reason;
  return p;
}

}  // namespace vidinfer
