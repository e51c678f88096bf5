#include <thread>

#include "decode/decoder.h"
#include "demux/demuxer.h"

namespace vidinfer {
namespace {

class CpuDecoder final : public Decoder {
 public:
  CpuDecoder(const StreamInfo& stream, std::string input, int threads) : input_(std::move(input)) {
    const AVCodecParameters* par = stream.codecpar;
    const AVCodec* codec = avcodec_find_decoder(par->codec_id);
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
    ctx_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    VI_AV_CHECK(avcodec_open2(ctx_.get(), codec, nullptr), input_);
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
  int64_t corrupt_ = 0;
  bool draining_ = false;
};

}  // namespace

std::unique_ptr<Decoder> make_cpu_decoder(const StreamInfo& stream, const std::string& input, int threads) {
  return std::make_unique<CpuDecoder>(stream, input, threads);
}

}  // namespace vidinfer
