#include "demux/demuxer.h"

#include <cmath>
#include <filesystem>
#include <fstream>

extern "C" {
#include <libavutil/display.h>
}

namespace vidinfer {

namespace fs = std::filesystem;

void check_input_file(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error("cannot open input", path, "file not found");
  if (fs::is_directory(st)) throw Error("cannot open input", path, "is a directory");
  if (!fs::is_regular_file(st) && !fs::is_fifo(st) && !fs::is_character_file(st))
    throw Error("cannot open input", path, "not a regular file");
  if (fs::is_regular_file(st)) {
    if (fs::file_size(path, ec) == 0 && !ec) throw Error("cannot open input", path, "empty file (0 bytes)");
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error("cannot open input", path, "permission denied or unreadable");
  }
}

Demuxer::Demuxer(std::string path) : path_(std::move(path)) {
  check_input_file(path_);
  AVFormatContext* raw = nullptr;
  int rc = avformat_open_input(&raw, path_.c_str(), nullptr, nullptr);
  if (rc < 0) {
    const std::string cause = rc == AVERROR_INVALIDDATA ? "not a recognised media file" : av_error_text(rc);
    throw Error("cannot open input", path_, cause);
  }
  fmt_.reset(raw);
  rc = avformat_find_stream_info(fmt_.get(), nullptr);
  if (rc < 0) throw Error("cannot read stream information", path_, av_error_text(rc));

  rc = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (rc < 0) {
    bool has_audio = false;
    for (unsigned i = 0; i < fmt_->nb_streams; ++i)
      has_audio |= fmt_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
    throw Error("no video stream", path_, has_audio ? "the file has audio only" : "no stream is video");
  }
  AVStream* st = fmt_->streams[rc];
  // Only the video stream's packets are read; the others are discarded by the demuxer itself.
  for (unsigned i = 0; i < fmt_->nb_streams; ++i)
    if (static_cast<int>(i) != rc) fmt_->streams[i]->discard = AVDISCARD_ALL;

  info_.index = rc;
  info_.container = fmt_->iformat->name;
  info_.time_base = st->time_base;
  info_.frame_rate = st->avg_frame_rate.den ? st->avg_frame_rate : st->r_frame_rate;
  info_.start_time = st->start_time != AV_NOPTS_VALUE ? st->start_time * av_q2d(st->time_base) : 0.0;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    info_.duration = st->duration * av_q2d(st->time_base);
  else if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0)
    info_.duration = fmt_->duration / static_cast<double>(AV_TIME_BASE);
  info_.nb_frames = st->nb_frames > 0 ? st->nb_frames : 0;
  info_.codecpar = st->codecpar;
  size_t sd_size = 0;
  if (const uint8_t* m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sd_size);
      m && sd_size >= 9 * sizeof(int32_t)) {
    const double r = av_display_rotation_get(reinterpret_cast<const int32_t*>(m));
    if (!std::isnan(r)) info_.rotation = r == 0.0 ? 0.0 : r;  // no -0
  }
}

bool Demuxer::read(AVPacket* pkt) {
  while (true) {
    av_packet_unref(pkt);
    const int rc = av_read_frame(fmt_.get(), pkt);
    if (rc == AVERROR_EOF) return false;
    if (rc < 0) {
      read_error_ = av_error_text(rc);
      return false;
    }
    if (pkt->stream_index == info_.index) return true;
  }
}

double Demuxer::to_seconds(int64_t ts) const { return ts * av_q2d(info_.time_base); }

}  // namespace vidinfer
