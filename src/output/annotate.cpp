#include "output/annotate.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "output/font5x7.h"

namespace vidinfer {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

// Distinct, saturated colours; a class keeps its colour across frames and runs.
Rgb class_colour(int class_id) {
  static const Rgb palette[] = {{230, 25, 75},  {60, 180, 75},   {255, 225, 25}, {0, 130, 200},  {245, 130, 48},
                                {145, 30, 180}, {70, 240, 240},  {240, 50, 230}, {210, 245, 60}, {250, 190, 212},
                                {0, 128, 128},  {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
                                {170, 255, 195}, {128, 128, 0},  {255, 215, 180}, {0, 0, 128},   {255, 255, 255}};
  const int n = sizeof palette / sizeof palette[0];
  return palette[((class_id % n) + n) % n];
}

void fill(torch::Tensor& img, int y0, int y1, int x0, int x1, const torch::Tensor& colour) {
  const int h = static_cast<int>(img.size(0)), w = static_cast<int>(img.size(1));
  y0 = std::clamp(y0, 0, h), y1 = std::clamp(y1, 0, h), x0 = std::clamp(x0, 0, w), x1 = std::clamp(x1, 0, w);
  if (y1 <= y0 || x1 <= x0) return;
  auto r = img.slice(0, y0, y1).slice(1, x0, x1);
  r.copy_(colour.view({1, 1, 3}).expand_as(r));
}

}  // namespace

void draw_detections(torch::Tensor& img, const std::vector<Detection>& dets) {
  if (dets.empty()) return;
  const int h = static_cast<int>(img.size(0)), w = static_cast<int>(img.size(1));
  const int thick = std::max(2, static_cast<int>(std::lround(std::min(h, w) / 270.0)));
  const int px = std::max(1, static_cast<int>(std::lround(std::min(h, w) / 400.0)));  // font pixel size
  for (const auto& d : dets) {
    const Rgb c = class_colour(d.class_id);
    const auto colour = torch::tensor({c.r, c.g, c.b}, torch::kUInt8).to(img.device());
    const int x1 = static_cast<int>(std::floor(d.x1)), y1 = static_cast<int>(std::floor(d.y1));
    const int x2 = static_cast<int>(std::ceil(d.x2)), y2 = static_cast<int>(std::ceil(d.y2));
    fill(img, y1, y1 + thick, x1, x2, colour);
    fill(img, y2 - thick, y2, x1, x2, colour);
    fill(img, y1, y2, x1, x1 + thick, colour);
    fill(img, y1, y2, x2 - thick, x2, colour);

    // The label on a filled tab above the box (inside it when the box touches the top).
    char score[16];
    std::snprintf(score, sizeof score, " %.2f", d.score);
    const std::string text = (d.label.empty() ? std::to_string(d.class_id) : d.label) + score;
    const int th = 9 * px, tw = (6 * static_cast<int>(text.size()) + 1) * px;
    int ty = y1 - th >= 0 ? y1 - th : std::max(0, y1);
    int tx = std::clamp(x1, 0, std::max(0, w - tw));
    if (ty >= h || tx >= w) continue;
    auto mask = torch::zeros({th, tw}, torch::kBool);
    auto m = mask.accessor<bool, 2>();
    for (size_t i = 0; i < text.size(); ++i) {
      const auto& g = font5x7::glyph(text[i]);
      for (int r = 0; r < 7; ++r)
        for (int k = 0; k < 5; ++k)
          if (g.rows[r][k] == '#')
            for (int a = 0; a < px; ++a)
              for (int b = 0; b < px; ++b) m[(1 + r) * px + a][(1 + 6 * static_cast<int>(i) + k) * px + b] = true;
    }
    const int vh = std::min(th, h - ty), vw = std::min(tw, w - tx);
    fill(img, ty, ty + vh, tx, tx + vw, colour);
    const bool dark_ink = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b > 140;
    auto region = img.slice(0, ty, ty + vh).slice(1, tx, tx + vw);
    auto ink = mask.slice(0, 0, vh).slice(1, 0, vw).unsqueeze(-1).expand({vh, vw, 3}).to(img.device());
    region.masked_fill_(ink, dark_ink ? 0 : 255);
  }
}

VideoWriter::VideoWriter(const std::string& path, int width, int height, AVRational time_base, AVRational frame_rate)
    : path_(path), part_(path + ".part"), width_(width & ~1), height_(height & ~1) {
  const char* what = "cannot write annotated video";
  if (width_ < 2 || height_ < 2) throw Error(what, path, "picture too small");
  const AVOutputFormat* fmt = av_guess_format(nullptr, path.c_str(), nullptr);
  if (!fmt) throw Error(what, path, "no container for this file name (use .mp4, .mkv or .mov)");
  AVFormatContext* oc = nullptr;
  VI_AV_CHECK(avformat_alloc_output_context2(&oc, fmt, nullptr, part_.c_str()), path);
  out_.reset(oc);

  // NVENC where the GPU has one, else libx264, else what this FFmpeg has.
  std::string tried;
  for (const char* name : {"h264_nvenc", "libx264", "libopenh264", "mpeg4"}) {
    const AVCodec* codec = avcodec_find_encoder_by_name(name);
    if (!codec) continue;
    UniqueAVCodecContext enc(avcodec_alloc_context3(codec));
    if (!enc) throw Error(what, path, "out of memory");
    enc->width = width_;
    enc->height = height_;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = time_base;
    enc->framerate = frame_rate;
    enc->gop_size = frame_rate.num > 0 && frame_rate.den > 0 ? std::max(1, 2 * frame_rate.num / frame_rate.den) : 60;
    enc->colorspace = AVCOL_SPC_BT709;
    enc->color_primaries = AVCOL_PRI_BT709;
    enc->color_trc = AVCOL_TRC_BT709;
    enc->color_range = AVCOL_RANGE_MPEG;
    if (out_->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (std::string(name) == "libx264") {
      av_opt_set(enc->priv_data, "preset", "veryfast", 0);
      av_opt_set(enc->priv_data, "crf", "20", 0);
    } else if (std::string(name) == "mpeg4") {
      enc->flags |= AV_CODEC_FLAG_QSCALE;
      enc->global_quality = FF_QP2LAMBDA * 3;
    }
    const int rc = avcodec_open2(enc.get(), codec, nullptr);
    if (rc < 0) {
      tried += std::string(tried.empty() ? "" : ", ") + name + " (" + av_error_text(rc) + ")";
      continue;
    }
    enc_ = std::move(enc);
    encoder_ = name;
    break;
  }
  if (!enc_)
    throw Error(what, path, tried.empty() ? "this FFmpeg has no H.264 or MPEG-4 encoder" : "no encoder opened: " + tried);

  stream_ = avformat_new_stream(out_.get(), nullptr);
  if (!stream_) throw Error(what, path, "out of memory");
  VI_AV_CHECK(avcodec_parameters_from_context(stream_->codecpar, enc_.get()), path);
  stream_->time_base = time_base;
  stream_->avg_frame_rate = frame_rate;
  // (By the "file:" protocol's name, as Demuxer opens files: a ':' in the name is not a protocol's.)
  if (!(out_->oformat->flags & AVFMT_NOFILE))
    VI_AV_CHECK(avio_open(&out_->pb, ("file:" + part_).c_str(), AVIO_FLAG_WRITE), path);
  VI_AV_CHECK(avformat_write_header(out_.get(), nullptr), path);

  sws_.reset(sws_getContext(width_, height_, AV_PIX_FMT_RGB24, width_, height_, AV_PIX_FMT_YUV420P,
                            SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr));
  if (!sws_) throw Error(what, path, "cannot set up the RGB to YUV conversion");
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  sws_setColorspaceDetails(sws_.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
  frame_ = make_av_frame();
  frame_->format = AV_PIX_FMT_YUV420P;
  frame_->width = width_;
  frame_->height = height_;
  VI_AV_CHECK(av_frame_get_buffer(frame_.get(), 0), path);
  pkt_ = make_av_packet();
}

VideoWriter::~VideoWriter() {
  if (finished_) return;
  out_.reset();  // closes the partial file
  std::remove(part_.c_str());
}

void VideoWriter::write(const uint8_t* rgb, int stride, int64_t pts) {
  if (pts == AV_NOPTS_VALUE || (last_pts_ != AV_NOPTS_VALUE && pts <= last_pts_))
    pts = last_pts_ == AV_NOPTS_VALUE ? 0 : last_pts_ + 1;  // encoders need strictly increasing timestamps
  last_pts_ = pts;
  VI_AV_CHECK(av_frame_make_writable(frame_.get()), path_);
  const uint8_t* src[1] = {rgb};
  const int src_stride[1] = {stride};
  sws_scale(sws_.get(), src, src_stride, 0, height_, frame_->data, frame_->linesize);
  frame_->pts = pts;
  VI_AV_CHECK(avcodec_send_frame(enc_.get(), frame_.get()), path_);
  drain(false);
}

void VideoWriter::drain(bool flush) {
  for (;;) {
    const int rc = avcodec_receive_packet(enc_.get(), pkt_.get());
    if (rc == AVERROR(EAGAIN) || (flush && rc == AVERROR_EOF)) return;
    VI_AV_CHECK(rc, path_);
    av_packet_rescale_ts(pkt_.get(), enc_->time_base, stream_->time_base);
    pkt_->stream_index = stream_->index;
    VI_AV_CHECK(av_interleaved_write_frame(out_.get(), pkt_.get()), path_);
  }
}

void VideoWriter::finish() {
  if (finished_) return;
  VI_AV_CHECK(avcodec_send_frame(enc_.get(), nullptr), path_);
  drain(true);
  VI_AV_CHECK(av_write_trailer(out_.get()), path_);
  out_.reset();
  if (std::rename(part_.c_str(), path_.c_str()) != 0)
    throw Error("cannot write annotated video", path_, std::string("rename failed: ") + std::strerror(errno));
  finished_ = true;
}

void write_png(const std::string& path, const uint8_t* rgb, int width, int height, int stride) {
  const char* what = "cannot write PNG";
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) throw Error(what, path, "this FFmpeg has no PNG encoder");
  UniqueAVCodecContext enc(avcodec_alloc_context3(codec));
  if (!enc) throw Error(what, path, "out of memory");
  enc->width = width;
  enc->height = height;
  enc->pix_fmt = AV_PIX_FMT_RGB24;
  enc->time_base = {1, 1};
  VI_AV_CHECK(avcodec_open2(enc.get(), codec, nullptr), path);
  auto frame = make_av_frame();
  frame->format = AV_PIX_FMT_RGB24;
  frame->width = width;
  frame->height = height;
  frame->data[0] = const_cast<uint8_t*>(rgb);
  frame->linesize[0] = stride;
  frame->pts = 0;
  VI_AV_CHECK(avcodec_send_frame(enc.get(), frame.get()), path);
  VI_AV_CHECK(avcodec_send_frame(enc.get(), nullptr), path);
  auto pkt = make_av_packet();
  VI_AV_CHECK(avcodec_receive_packet(enc.get(), pkt.get()), path);
  const std::string part = path + ".part";
  std::FILE* f = std::fopen(part.c_str(), "wb");
  if (!f) throw Error(what, path, std::strerror(errno));
  const bool ok = std::fwrite(pkt->data, 1, pkt->size, f) == static_cast<size_t>(pkt->size);
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed || std::rename(part.c_str(), path.c_str()) != 0) {
    std::remove(part.c_str());
    throw Error(what, path, "write failed");
  }
}

}  // namespace vidinfer
