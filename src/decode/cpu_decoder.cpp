#include <cstring>
#include <thread>

#include "decode/decoder.h"
#include "demux/demuxer.h"

namespace vidinfer {
namespace {

// FFmpeg's built-in AV1 decoder ("av1") decodes only through a hardware accelerator, which this
// decoder does not set up: without libdav1d or libaom in the build it is the only AV1 decoder, and
// its first packet fails with ENOSYS ("Function not implemented"), which says nothing about AV1.
constexpr const char* kNoAv1Decoder =
    "no AV1 decoder is available: this FFmpeg has no software AV1 decoder (its built-in 'av1' decoder "
    "needs a hardware accelerator) and NVDEC did not take the stream; an FFmpeg built with libdav1d "
    "(--enable-libdav1d) or libaom provides one";

class CpuDecoder final : public Decoder {
 public:
  CpuDecoder(const StreamInfo& stream, std::string input, int threads, const AVCodec* codec, bool low_delay = false)
      : input_(std::move(input)) {
    const AVCodecParameters* par = stream.codecpar;
    if (!codec) codec = avcodec_find_decoder(par->codec_id);
    if (codec && codec->id == AV_CODEC_ID_AV1 && std::strcmp(codec->name, "av1") == 0)
      throw Error("unsupported codec", input_, kNoAv1Decoder);
    if (!codec) {
      const char* name = avcodec_get_name(par->codec_id);
      throw Error("unsupported codec", input_,
                  std::string("no decoder for '") + (name ? name : "unknown") + "' in this FFmpeg");
    }
    ctx_.reset(avcodec_alloc_context3(codec));
    if (!ctx_) throw Error("out of memory allocating a decoder", input_);
    VI_AV_CHECK(avcodec_parameters_to_context(ctx_.get(), par), input_);
    ctx_->pkt_timebase = stream.time_base;
    ctx_->thread_count = threads;
    ctx_->thread_type = low_delay ? FF_THREAD_SLICE : FF_THREAD_FRAME | FF_THREAD_SLICE;
    VI_AV_CHECK(avcodec_open2(ctx_.get(), codec, nullptr), input_);
    codec_name_ = codec->name;
    name_ = std::string("cpu (libavcodec ") + codec->name + ", " +
            (ctx_->thread_count > 0 ? std::to_string(ctx_->thread_count)
                                    : std::to_string(std::thread::hardware_concurrency())) +
            " threads)";
  }

  void send(const AVPacket* pkt) override {
    if (draining_) return;
    if (!pkt) draining_ = true;
    const int rc = avcodec_send_packet(ctx_.get(), pkt);
    if (rc == 0 || rc == AVERROR_EOF) return;
    if (rc == AVERROR_INVALIDDATA || rc == AVERROR(EIO) || rc == AVERROR_PATCHWELCOME) {
      ++corrupt_;
      return;
    }
    if (rc == AVERROR(ENOSYS))  // a decoder that needs a hardware accelerator (see kNoAv1Decoder)
      throw Error("unsupported codec", input_,
                  "this FFmpeg's '" + codec_name_ + "' decoder cannot decode the stream in software (" +
                      av_error_text(rc) + ")");
    throw_av_error(rc, "avcodec_send_packet", input_, __FILE__, __LINE__);
  }

  bool receive(AVFrame* out) override {
    while (true) {
      av_frame_unref(out);
      const int rc = avcodec_receive_frame(ctx_.get(), out);
      if (rc == 0) return true;
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return false;
      if (rc == AVERROR_INVALIDDATA) {  // some decoders report damage here instead of in send
        ++corrupt_;
        continue;
      }
      throw_av_error(rc, "avcodec_receive_frame", input_, __FILE__, __LINE__);
    }
  }

  std::string name() const override { return name_; }
  int64_t packets_corrupt() const override { return corrupt_; }

 private:
  std::string input_;
  UniqueAVCodecContext ctx_;
  std::string name_;
  std::string codec_name_;
  int64_t corrupt_ = 0;
  bool draining_ = false;
};

}  // namespace

std::unique_ptr<Decoder> make_cpu_decoder(const StreamInfo& stream, const std::string& input, int threads,
                                          bool low_delay) {
  return std::make_unique<CpuDecoder>(stream, input, threads, nullptr, low_delay);
}

std::unique_ptr<Decoder> make_cpu_decoder(const StreamInfo& stream, const std::string& input, int threads,
                                          const AVCodec* codec) {
  return std::make_unique<CpuDecoder>(stream, input, threads, codec);
}

}  // namespace vidinfer
