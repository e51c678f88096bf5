#include <gtest/gtest.h>

#include <numeric>

#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "support.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

namespace media = test::media;
using test::error_of;

struct Clip {
  const char* name;
  std::string (*make)();
};
class DecodeContainers : public ::testing::TestWithParam<Clip> {};

TEST_P(DecodeContainers, FrameCountSizesAndTimestampsMatchFfprobe) {
  const std::string path = GetParam().make();
  const auto ref = test::ffprobe_frames(path);
  const auto got = test::decode_all(path);
  ASSERT_EQ(got.frames.size(), ref.size());
  EXPECT_EQ(ref.size(), 60u);
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_NEAR(got.pts[i], ref[i].pts, 1e-6) << "frame " << i;
    EXPECT_EQ(got.frames[i]->width, ref[i].width);
    EXPECT_EQ(got.frames[i]->height, ref[i].height);
  }
  // Presentation order: strictly increasing timestamps.
  for (size_t i = 1; i < got.pts.size(); ++i) EXPECT_GT(got.pts[i], got.pts[i - 1]);
  EXPECT_EQ(got.packets_corrupt, 0);
}

INSTANTIATE_TEST_SUITE_P(Containers, DecodeContainers,
                         ::testing::Values(Clip{"mp4_h264", &media::h264_mp4}, Clip{"mkv_hevc10", &media::hevc10_mkv},
                                           Clip{"webm_vp9", &media::vp9_webm}, Clip{"ts_h264", &media::h264_ts}),
                         [](const auto& info) { return std::string(info.param.name); });

double mean_luma(const AVFrame* f) {
  const int shift = f->format == AV_PIX_FMT_YUV420P10LE ? 2 : 0;
  double sum = 0;
  for (int y = 0; y < f->height; ++y) {
    for (int x = 0; x < f->width; ++x) {
      sum += shift ? reinterpret_cast<const uint16_t*>(f->data[0] + y * f->linesize[0])[x] >> shift
                   : f->data[0][y * f->linesize[0] + x];
    }
  }
  return sum / (f->width * f->height);
}

class DecodeCounter : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeCounter, FramesComeOutInPresentationOrder) {
  // Lossless clip with B-frames; frame i has luma 40 + 4 i.
  const auto got = test::decode_all(media::counter(GetParam()));
  ASSERT_EQ(got.frames.size(), 50u);
  for (size_t i = 0; i < got.frames.size(); ++i)
    EXPECT_NEAR(mean_luma(got.frames[i].get()), 40.0 + 4.0 * i, 0.01) << "frame " << i;
}

INSTANTIATE_TEST_SUITE_P(Codecs, DecodeCounter, ::testing::Values("h264", "hevc"));

TEST(Decode, MidStreamResolutionChange) {
  const std::string a = test::clip("size-a", "ts", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=1 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const std::string b = test::clip("size-b", "ts", "-f lavfi -i testsrc2=size=96x64:rate=30:duration=1 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  test::TempDir dir;
  test::join_files(a, b, dir.file("joined.ts"));
  const auto got = test::decode_all(dir.file("joined.ts"));
  const auto ref = test::ffprobe_frames(dir.file("joined.ts"));
  ASSERT_EQ(got.frames.size(), ref.size());
  int changes = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_EQ(got.frames[i]->width, ref[i].width) << i;
    EXPECT_EQ(got.frames[i]->height, ref[i].height) << i;
    changes += i > 0 && got.frames[i]->width != got.frames[i - 1]->width;
  }
  EXPECT_EQ(changes, 1);
}

TEST(Decode, CorruptPacketsAreSkippedAndCounted) {
  // Overwrite the payload of a run of packets in the middle of a TS file with garbage; the decoder
  // must go on and deliver the frames around the damage.
  const std::string src = media::h264_ts();
  test::TempDir dir;
  auto bytes = test::read_bytes(src);
  uint32_t x = 12345;
  for (size_t off = bytes.size() * 4 / 10; off < bytes.size() * 6 / 10; off += 188) {
    for (size_t k = off + 8; k < off + 188 && k < bytes.size(); ++k) {
      x = x * 1664525u + 1013904223u;
      bytes[k] = static_cast<uint8_t>(x >> 24);
    }
  }
  test::write_bytes(dir.file("damaged.ts"), bytes);
  test::Decoded got;
  ASSERT_NO_THROW(got = test::decode_all(dir.file("damaged.ts")));
  EXPECT_GT(got.frames.size(), 30u) << "frames before and after the damage still decode";
  EXPECT_LE(got.frames.size(), 60u);
}

TEST(Decode, GarbagePacketsAreCountedNotFatal) {
  Demuxer demux(media::h264_mp4());
  auto dec = make_cpu_decoder(demux.stream(), "garbage", 1);
  auto pkt = make_av_packet();
  auto frame = make_av_frame();
  // Valid packets first, then packets of NAL units with forbidden/garbage headers.
  int frames = 0, sent = 0;
  while (demux.read(pkt.get()) && sent < 10) {
    dec->send(pkt.get());
    ++sent;
    while (dec->receive(frame.get())) ++frames;
  }
  for (int i = 0; i < 5; ++i) {
    auto bad = make_av_packet();
    ASSERT_EQ(av_new_packet(bad.get(), 64), 0);
    const uint8_t nal[] = {0, 0, 0, 60, 0x65, 0xff, 0xff, 0xff};  // length-prefixed IDR slice of junk
    std::fill_n(bad->data, 64, 0xff);
    std::copy(std::begin(nal), std::end(nal), bad->data);
    bad->pts = bad->dts = AV_NOPTS_VALUE;
    EXPECT_NO_THROW(dec->send(bad.get()));
    while (dec->receive(frame.get())) ++frames;
  }
  dec->send(nullptr);
  while (dec->receive(frame.get())) ++frames;
  EXPECT_GE(frames, 8);
  EXPECT_GT(dec->packets_corrupt(), 0);
}

TEST(Decode, UnsupportedCodecIsAClearError) {
  // An AVI whose video FourCC no decoder knows: the stream's tag (avc1, copied from the mp4) patched.
  const std::string avi = test::clip("h264", "avi", "-i " + test::q(media::h264_mp4()) + " -c:v copy");
  auto bytes = test::read_bytes(avi);
  int patched = 0;
  for (size_t i = 0; i + 4 <= bytes.size(); ++i) {
    if (bytes[i] == 'a' && bytes[i + 1] == 'v' && bytes[i + 2] == 'c' && bytes[i + 3] == '1') {
      std::fill_n(bytes.begin() + i, 4, 'Z');
      ++patched;
    }
  }
  ASSERT_GE(patched, 1);
  test::TempDir dir;
  const std::string path = dir.file("zzzz.avi");
  test::write_bytes(path, bytes);
  Demuxer demux(path);
  try {
    make_cpu_decoder(demux.stream(), path, 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": unsupported codec: no decoder for", 0), 0u) << e.what();
  }
}

// A build whose only AV1 decoder is FFmpeg's built-in one (it decodes through a hardware accelerator
// only; the GPU machine's first FFmpeg kit was such a build) must say that no AV1 decoder is there,
// not "avcodec_send_packet failed: Function not implemented". The built-in decoder is taken here by
// name, as that build would pick it.
TEST(Decode, AV1WithoutASoftwareDecoderSaysSo) {
  const AVCodec* builtin = avcodec_find_decoder_by_name("av1");
  if (!builtin) GTEST_SKIP() << "this FFmpeg has no built-in 'av1' decoder";
  const std::string path = test::clip("av1", "mkv", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=0.5 "
                                                    "-c:v libaom-av1 -cpu-used 8 -row-mt 1 -b:v 200k -pix_fmt yuv420p");
  Demuxer demux(path);
  EXPECT_EQ(error_of([&] { make_cpu_decoder(demux.stream(), path, 0, builtin); }),
            path + ": unsupported codec: no AV1 decoder is available: this FFmpeg has no software AV1 decoder "
                   "(its built-in 'av1' decoder needs a hardware accelerator) and NVDEC did not take the stream; "
                   "an FFmpeg built with libdav1d (--enable-libdav1d) or libaom provides one");
  // With the build's preferred decoder (libdav1d here), the same file decodes: every frame ffprobe sees.
  const AVCodec* preferred = avcodec_find_decoder(AV_CODEC_ID_AV1);
  if (!preferred || std::string(preferred->name) == "av1") return;
  EXPECT_EQ(test::decode_all(path).frames.size(), test::ffprobe_frames(path).size());
  EXPECT_EQ(test::ffprobe_frames(path).size(), 15u);
}

}  // namespace
}  // namespace vidinfer
