#include "demux/demuxer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "demux/input_source.h"

extern "C" {
#include <libavutil/display.h>
}

namespace vidinfer {

namespace fs = std::filesystem;

void check_input_file(const std::string& path, const std::string& name) {
  const std::string& input = name.empty() ? path : name;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error("cannot open input", input, "file not found");
  if (fs::is_directory(st)) throw Error("cannot open input", input, "is a directory");
  if (!fs::is_regular_file(st) && !fs::is_fifo(st) && !fs::is_character_file(st))
    throw Error("cannot open input", input, "not a regular file");
  if (fs::is_regular_file(st)) {
    if (fs::file_size(path, ec) == 0 && !ec) throw Error("cannot open input", input, "empty file (0 bytes)");
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error("cannot open input", input, "permission denied or unreadable");
  }
}

namespace {

// The in-memory input's AVIOContext callbacks: plain arithmetic, nothing that throws across C code.
struct MemoryIo {
  static int read(void* opaque, uint8_t* buf, int size) {
    auto* m = static_cast<Demuxer::MemoryInput*>(opaque);
    const size_t left = m->data.size() - m->pos;
    if (left == 0) return AVERROR_EOF;
    const size_t n = std::min(left, static_cast<size_t>(std::max(size, 0)));
    std::memcpy(buf, m->data.data() + m->pos, n);
    m->pos += n;
    return static_cast<int>(n);
  }
  static int64_t seek(void* opaque, int64_t offset, int whence) {
    auto* m = static_cast<Demuxer::MemoryInput*>(opaque);
    const auto size = static_cast<int64_t>(m->data.size());
    int64_t base = 0;
    switch (whence & ~AVSEEK_FORCE) {
      case AVSEEK_SIZE: return size;
      case SEEK_SET: base = 0; break;
      case SEEK_CUR: base = static_cast<int64_t>(m->pos); break;
      case SEEK_END: base = size; break;
      default: return AVERROR(EINVAL);
    }
    if (offset > size - base || offset < -base) return AVERROR(EINVAL);  // no overflow in base + offset
    m->pos = static_cast<size_t>(base + offset);
    return base + offset;
  }
};

// Whether the bytes that `read(offset, n)` gives look like an MP4/MOV file (ISO base media: top-level
// boxes, the first an 'ftyp' or another box such files start with) that has no index ('moov' box):
// a recording cut short or never finalised, which libavformat reports only as invalid data.
// `size` is the file's length. Walks the top-level box headers, nothing else.
bool is_mp4_without_index(const std::function<bool(uint64_t, uint8_t*, size_t)>& read, uint64_t size) {
  auto be32 = [](const uint8_t* b) { return uint64_t{b[0]} << 24 | uint64_t{b[1]} << 16 | uint64_t{b[2]} << 8 | b[3]; };
  uint8_t h[16];
  if (size < 8 || !read(0, h, 8)) return false;
  const std::string first(reinterpret_cast<const char*>(h + 4), 4);
  if (first != "ftyp" && first != "mdat" && first != "free" && first != "wide" && first != "skip") return false;
  for (uint64_t at = 0; at + 8 <= size;) {
    if (!read(at, h, 8)) return false;
    if (std::memcmp(h + 4, "moov", 4) == 0) return false;
    uint64_t box = be32(h);
    if (box == 1) {  // 64-bit size after the type
      if (at + 16 > size || !read(at + 8, h + 8, 8)) return true;
      box = be32(h + 8) << 32 | be32(h + 12);
      if (box < 16) return false;
    } else if (box == 0) {
      return true;  // the last box runs to the end of the file: no moov after it
    } else if (box < 8) {
      return false;  // not a box structure after all
    }
    if (box > size - at) return true;  // a box cut short
    at += box;
  }
  return true;
}

constexpr const char* kMp4WithoutIndex =
    "the MP4/MOV file is truncated or was never finalised: it has no index (moov box), as when a "
    "recording or copy stops before the end";

// An input in memory is one self-contained file: it may not make libavformat open others (an HLS
// playlist's segments, a concat list's files, an image sequence), which would read from disk or network.
int refuse_nested_open(AVFormatContext*, AVIOContext**, const char*, int, AVDictionary**) { return AVERROR(EPERM); }

}  // namespace

void Demuxer::AVIOContextFreer::operator()(AVIOContext* c) const noexcept {
  if (!c) return;
  av_freep(&c->buffer);  // libavformat may have replaced the buffer we gave it; free the current one
  avio_context_free(&c);
}

Demuxer::Demuxer(std::string path, DemuxOptions options) : path_(std::move(path)), options_(std::move(options)) {
  const InputSource src = InputSource::of(path_);
  if (src.kind() != InputSource::Kind::File) {
    open_stream();
    return;
  }
  const std::string file = src.path();
  check_input_file(file, path_);
  AVFormatContext* raw = nullptr;
  // Through the "file:" protocol by name: libavformat takes the letters, digits, '+', '-' and '.' before
  // a path's first ':' for a protocol's name, so a recording named by its time (2026-12-08T03:00:00.mp4)
  // failed with "Protocol not found".
  const int rc = avformat_open_input(&raw, ("file:" + file).c_str(), nullptr, nullptr);
  if (rc < 0) {
    std::string cause = rc == AVERROR_INVALIDDATA ? "not a recognised media file" : av_error_text(rc);
    std::error_code ec;
    const auto size = fs::is_regular_file(file, ec) ? fs::file_size(file, ec) : 0;
    std::ifstream in(file, std::ios::binary);
    auto read = [&](uint64_t offset, uint8_t* out, size_t n) {
      in.clear();
      in.seekg(static_cast<std::streamoff>(offset));
      return static_cast<bool>(in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n)));
    };
    if (rc == AVERROR_INVALIDDATA && !ec && in && is_mp4_without_index(read, size)) cause = kMp4WithoutIndex;
    throw Error("cannot open input", path_, cause);
  }
  open(raw);
}

Demuxer::Demuxer(std::string name, std::span<const uint8_t> data)
    : path_(std::move(name)), memory_(std::make_unique<MemoryInput>()) {
  if (data.empty()) throw Error("cannot open input", path_, "empty file (0 bytes)");
  memory_->data = data;
  constexpr int kBufferSize = 32 * 1024;
  auto* buffer = static_cast<uint8_t*>(av_malloc(kBufferSize));
  if (!buffer) throw Error("out of memory opening an input", path_);
  avio_.reset(avio_alloc_context(buffer, kBufferSize, 0, memory_.get(), &MemoryIo::read, nullptr,
                                 &MemoryIo::seek));
  if (!avio_) {
    av_free(buffer);
    throw Error("out of memory opening an input", path_);
  }
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw Error("out of memory opening an input", path_);
  raw->pb = avio_.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  raw->io_open = &refuse_nested_open;
  // avformat_open_input frees the context (not our AVIOContext) when it fails.
  const int rc = avformat_open_input(&raw, path_.c_str(), nullptr, nullptr);
  if (rc < 0) {
    std::string cause = rc == AVERROR_INVALIDDATA ? "not a recognised media file" : av_error_text(rc);
    auto read = [&](uint64_t offset, uint8_t* out, size_t n) {
      if (offset > data.size() || n > data.size() - offset) return false;
      std::memcpy(out, data.data() + offset, n);
      return true;
    };
    if (rc == AVERROR_INVALIDDATA && is_mp4_without_index(read, data.size())) cause = kMp4WithoutIndex;
    throw Error("cannot open input", path_, cause);
  }
  open(raw);
}

void Demuxer::open(AVFormatContext* ctx) {
  fmt_.reset(ctx);
  int rc = avformat_find_stream_info(fmt_.get(), nullptr);
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
  index_is_dts_ = std::string(fmt_->iformat->name).find("matroska") == std::string::npos;
  info_.time_base = st->time_base;
  info_.frame_rate = st->avg_frame_rate.den ? st->avg_frame_rate : st->r_frame_rate;
  info_.start_time = st->start_time != AV_NOPTS_VALUE ? st->start_time * av_q2d(st->time_base) : 0.0;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    info_.duration = st->duration * av_q2d(st->time_base);
  else if (fmt_->duration != AV_NOPTS_VALUE && fmt_->duration > 0)
    info_.duration = fmt_->duration / static_cast<double>(AV_TIME_BASE);
  info_.nb_frames = st->nb_frames > 0 ? st->nb_frames : 0;
  // An MP4 edit list that starts after a keyframe (a stream-copied trim) keeps pre-roll pictures the
  // decoders drop (AV_PKT_FLAG_DISCARD); nb_frames counts them, the frames a player shows do not.
  if (info_.nb_frames > 0) {
    int64_t discarded = 0;
    const int n = avformat_index_get_entries_count(st);
    for (int i = 0; i < n; ++i)
      if (const AVIndexEntry* e = avformat_index_get_entry(st, i); e && (e->flags & AVINDEX_DISCARD_FRAME)) ++discarded;
    if (discarded < info_.nb_frames) info_.nb_frames -= discarded;
  }
  info_.codecpar = st->codecpar;
  size_t sd_size = 0;
  if (const uint8_t* m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sd_size);
      m && sd_size >= 9 * sizeof(int32_t)) {
    const double r = av_display_rotation_get(reinterpret_cast<const int32_t*>(m));
    if (!std::isnan(r)) info_.rotation = r == 0.0 ? 0.0 : r;  // no -0
  }
}

bool length_stated(const StreamInfo& st) {
  if (!(st.duration > 0)) return false;
  const bool mov = st.container.find("mp4") != std::string::npos;  // "mov,mp4,m4a,3gp,3g2,mj2"
  return !mov || st.nb_frames > 0;
}

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int Demuxer::interrupted(void* self) {
  auto* d = static_cast<Demuxer*>(self);
  if (d->options_.stop && d->options_.stop->load()) return 1;
  if (d->past_until()) return 1;
  const int64_t deadline = d->deadline_ns_.load();
  return deadline > 0 && steady_ns() > deadline ? 1 : 0;
}

// A URL or a pipe: libavformat's protocols, with an interrupt callback that ends a blocked open or
// read when the run stops or the stream stalls past DemuxOptions::stall_timeout. (The protocols'
// own timeouts differ by protocol, in meaning and unit; the callback holds for all of them.)
void Demuxer::open_stream() {
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) throw Error("out of memory opening an input", path_);
  raw->interrupt_callback = {&Demuxer::interrupted, this};
  AVDictionary* opts = nullptr;
  const std::string url = path_ == "-" ? "pipe:0" : path_;
  if (url.rfind("rtsp://", 0) == 0 || url.rfind("rtsps://", 0) == 0)
    av_dict_set(&opts, "rtsp_transport", options_.rtsp_transport.c_str(), 0);
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    // A transfer that breaks is resumed where it broke (an HTTP range request, where the server takes
    // them), by libavformat's own HTTP client: a recording on a web server or an object store reads on
    // past a dropped connection, within the stall timeout. (A live stream, which has no length, is
    // opened again by the job instead: LiveOptions::reconnect. Not reconnect_on_network_error: that
    // retries a refused first connection until the open deadline, where "Connection refused" is the
    // answer to give at once.)
    av_dict_set(&opts, "reconnect", "1", 0);
  }
  if (url.rfind("udp://", 0) == 0) {
    // libavformat's UDP reader has a thread and a ring of its own: large, and a full ring drops
    // packets (counted by the decoder as corrupt) instead of failing the input.
    av_dict_set(&opts, "fifo_size", "1000000", 0);  // in 188-byte units: ~180 MiB at most
    av_dict_set(&opts, "overrun_nonfatal", "1", 0);
  }
  // Opening and probing a live stream takes up to a few seconds (to its first keyframe): it may take
  // twice the stall timeout, and at least 4 s.
  if (options_.stall_timeout > 0)
    deadline_ns_ = steady_ns() + static_cast<int64_t>(std::max(4.0, 2 * options_.stall_timeout) * 1e9);
  const int rc = avformat_open_input(&raw, url.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (rc < 0) {
    deadline_ns_ = 0;
    const bool stop = options_.stop && options_.stop->load();
    const std::string cause = stop                      ? "interrupted"
                              : rc == AVERROR_EXIT      ? "no answer within the stall timeout"
                              : rc == AVERROR_INVALIDDATA ? "not a recognised media stream"
                                                        : av_error_text(rc);
    throw Error("cannot open input", path_, cause);
  }
  try {
    open(raw);
  } catch (const Error&) {
    deadline_ns_ = 0;
    if (options_.stop && options_.stop->load()) throw Error("cannot open input", path_, "interrupted");
    throw;
  }
  deadline_ns_ = 0;
}

void Demuxer::pace(const AVPacket* pkt) {
  const int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
  if (ts == AV_NOPTS_VALUE) return;
  const double t = to_seconds(ts);
  if (!pace_started_) {
    pace_started_ = true;
    pace_ts0_ = t;
    pace_t0_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(std::max(0.0, options_.pace_delay)));
  }
  const auto due = pace_t0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(std::max(0.0, t - pace_ts0_)));
  pace_due_ = due;
  // In steps, so that a stopping run is not held.
  while (std::chrono::steady_clock::now() < due && !(options_.stop && options_.stop->load()) && !past_until())
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - std::chrono::steady_clock::now(),
                                                                             std::chrono::milliseconds(50)));
}

bool Demuxer::read(AVPacket* pkt) {
  stalled_ = false;
  while (true) {
    av_packet_unref(pkt);
    if (options_.stall_timeout > 0) deadline_ns_ = steady_ns() + static_cast<int64_t>(options_.stall_timeout * 1e9);
    const int rc = av_read_frame(fmt_.get(), pkt);
    deadline_ns_ = 0;
    if (rc == AVERROR_EOF) return false;
    if (rc < 0) {
      const bool stop = (options_.stop && options_.stop->load()) || past_until();
      stalled_ = rc == AVERROR_EXIT && !stop;
      read_error_ = stop ? "interrupted"
                    : stalled_ ? "no data for " + std::to_string(static_cast<int>(std::lround(options_.stall_timeout))) + " s (stalled)"
                               : av_error_text(rc);
      return false;
    }
    if (pkt->stream_index == info_.index) {
      if (options_.pace) pace(pkt);
      return true;
    }
  }
}

double Demuxer::to_seconds(int64_t ts) const { return ts * av_q2d(info_.time_base); }

std::vector<int64_t> Demuxer::keyframe_index() {
  std::vector<int64_t> out;
  const std::string name = fmt_->iformat->name;
  const bool mov = name.find("mp4") != std::string::npos || name.find("mov") != std::string::npos;
  const bool mkv = name.find("matroska") != std::string::npos;
  if (!mov && !mkv) return out;
  AVStream* st = fmt_->streams[info_.index];
  // FFmpeg's Matroska demuxer reads the cues on the first seek.
  if (mkv) av_seek_frame(fmt_.get(), info_.index, 0, AVSEEK_FLAG_BACKWARD);
  const int n = avformat_index_get_entries_count(st);
  for (int i = 0; i < n; ++i) {
    const AVIndexEntry* e = avformat_index_get_entry(st, i);
    if (e && (e->flags & AVINDEX_KEYFRAME) && e->timestamp != AV_NOPTS_VALUE) out.push_back(e->timestamp);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void Demuxer::seek_keyframe(int64_t ts) {
  const int rc = av_seek_frame(fmt_.get(), info_.index, ts, AVSEEK_FLAG_BACKWARD);
  if (rc < 0) throw Error("cannot seek", path_, "to timestamp " + std::to_string(ts) + ": " + av_error_text(rc));
}

}  // namespace vidinfer
