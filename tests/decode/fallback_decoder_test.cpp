// with_fallback: the hand-over from a decoder that refuses the stream part-way. The refusing decoder
// here is libavcodec made to refuse at a chosen keyframe and to lose the pictures it still holds, as
// the NVCUVID parser may when a sequence is refused; the fallback must still give every frame once,
// in order, exactly as one decoder gives them. (The GPU pipeline test drives it with NVDEC itself on a
// stream that turns 4:4:4 part-way.)
#include <gtest/gtest.h>

#include <cstring>

#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "support.h"

namespace vidinfer {
namespace {

// Decodes with `inner` until the `refuse_at`-th keyframe packet (1-based), then refuses: that packet
// is not decoded and the frames the inner decoder still holds are never given.
class RefusingDecoder final : public Decoder {
 public:
  RefusingDecoder(std::unique_ptr<Decoder> inner, int refuse_at) : inner_(std::move(inner)), refuse_at_(refuse_at) {}
  void send(const AVPacket* pkt) override {
    if (!refused_.empty()) return;
    if (pkt && (pkt->flags & AV_PKT_FLAG_KEY) && ++keys_ == refuse_at_) {
      refused_ = "test refusal";
      return;
    }
    inner_->send(pkt);
  }
  bool receive(AVFrame* out) override { return refused_.empty() && inner_->receive(out); }
  std::string name() const override { return "refusing " + inner_->name(); }
  int64_t packets_corrupt() const override { return inner_->packets_corrupt(); }
  std::string refused() const override { return refused_; }

 private:
  std::unique_ptr<Decoder> inner_;
  int refuse_at_;
  int keys_ = 0;
  std::string refused_;
};

struct Out {
  std::vector<int64_t> ts;
  std::vector<std::vector<uint8_t>> luma;
  std::string name;
};

std::vector<uint8_t> luma_of(const AVFrame* f) {
  std::vector<uint8_t> v(static_cast<size_t>(f->width) * f->height);
  for (int y = 0; y < f->height; ++y) std::memcpy(&v[static_cast<size_t>(y) * f->width], f->data[0] + y * f->linesize[0], f->width);
  return v;
}

Out decode(const std::string& path, int refuse_at) {
  Demuxer demux(path);
  const StreamInfo& st = demux.stream();
  std::unique_ptr<Decoder> dec = make_cpu_decoder(st, path, 1);
  if (refuse_at > 0)
    dec = with_fallback(std::make_unique<RefusingDecoder>(std::move(dec), refuse_at),
                        [&] { return make_cpu_decoder(st, path, 1); });
  Out out;
  auto pkt = make_av_packet();
  auto frame = make_av_frame();
  const auto take = [&] {
    while (dec->receive(frame.get())) {
      out.ts.push_back(frame->best_effort_timestamp);
      out.luma.push_back(luma_of(frame.get()));
    }
  };
  while (demux.read(pkt.get())) {
    dec->send(pkt.get());
    take();
  }
  dec->send(nullptr);
  take();
  out.name = dec->name();
  return out;
}

// 3 s at 30 fps, a keyframe every 15 frames, 2 B-frames: pictures are held across the refusal.
std::string gop_clip() {
  return test::clip("fallback-gops", "mp4",
                    "-f lavfi -i testsrc2=size=160x120:rate=30:duration=3 -c:v libx264 -preset fast -bf 2 "
                    "-g 15 -keyint_min 15 -sc_threshold 0 -pix_fmt yuv420p");
}

TEST(Fallback, EveryFrameOnceInOrderWhereverTheFirstDecoderRefuses) {
  const std::string path = gop_clip();
  const Out ref = decode(path, 0);
  ASSERT_EQ(ref.ts.size(), 90u);
  for (int at : {1, 2, 4, 6}) {  // the first keyframe, the second, a middle one, the last
    const Out got = decode(path, at);
    ASSERT_EQ(got.ts, ref.ts) << "refused at keyframe " << at;
    for (size_t i = 0; i < ref.luma.size(); ++i) ASSERT_EQ(got.luma[i], ref.luma[i]) << "frame " << i << ", refused at keyframe " << at;
    EXPECT_NE(got.name.find("then cpu (libavcodec"), std::string::npos) << got.name;
    EXPECT_NE(got.name.find("test refusal"), std::string::npos) << got.name;
  }
}

TEST(Fallback, TimestampsThatStartAgainInTheNewSequenceAreKept) {
  // Two streams joined byte for byte: the second starts at the first one's timestamps again (as
  // concatenated transport streams do), and the second is 4:4:4 (the case that makes NVDEC refuse).
  const std::string a = test::clip("fallback-a", "ts", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=1 "
                                   "-c:v libx264 -preset fast -bf 2 -g 15 -pix_fmt yuv420p");
  const std::string b = test::clip("fallback-b444", "ts", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=1 "
                                   "-vf hflip -c:v libx264 -preset fast -bf 2 -g 15 -pix_fmt yuv444p");
  test::TempDir dir;
  const std::string path = test::join_files(a, b, dir.file("joined.ts"));
  const Out ref = decode(path, 0);
  ASSERT_EQ(ref.ts.size(), 60u);
  const Out got = decode(path, 3);  // keyframes at 0, 15 (a) and 30 (b): refused where b starts
  ASSERT_EQ(got.ts, ref.ts);
  for (size_t i = 0; i < ref.luma.size(); ++i) ASSERT_EQ(got.luma[i], ref.luma[i]) << "frame " << i;
}

}  // namespace
}  // namespace vidinfer
