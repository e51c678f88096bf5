#include <gtest/gtest.h>

#include <cstring>

#include "common/av.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

TEST(Error, NamesInputWhatAndCauseOnOneLine) {
  Error e("cannot open input", "clip.mp4", "file not found");
  EXPECT_STREQ(e.what(), "clip.mp4: cannot open input: file not found");
  EXPECT_EQ(e.input(), "clip.mp4");
  EXPECT_EQ(e.cause(), "file not found");
}

TEST(Error, OmitsEmptyPartsAndFoldsNewlines) {
  EXPECT_STREQ(Error("model forward failed", "", "shape mismatch\nat line 3\n").what(),
               "model forward failed: shape mismatch at line 3");
  EXPECT_STREQ(Error("out of memory").what(), "out of memory");
}

TEST(Error, WithInputAddsTheFile) {
  Error e = Error("cannot convert frame", "", "unsupported pixel format").with_input("a.mkv");
  EXPECT_STREQ(e.what(), "a.mkv: cannot convert frame: unsupported pixel format");
}

TEST(Error, HidesAUrlsPasswordButKeepsTheInputAsGiven) {
  const std::string cam = "rtsp://admin:s3cr:t@10.0.0.7:554/Streaming/Channels/101?user=x@y";
  Error e("cannot open input", cam, "Connection refused");
  EXPECT_STREQ(e.what(), "rtsp://admin:***@10.0.0.7:554/Streaming/Channels/101?user=x@y: cannot open input: Connection refused");
  EXPECT_EQ(e.input(), cam);
  EXPECT_STREQ(Error("x").with_input("http://u:p@h").what(), "http://u:***@h: x");
  // No password, or no user information at all: shown as given ('@' and ':' elsewhere are not it).
  for (const std::string s : {"rtsp://admin@10.0.0.7/cam", "rtsp://10.0.0.7:554/cam?a=b:c@d", "udp://0.0.0.0:5000",
                              "clip:1@2.mp4", "/videos/a:b@c.mp4", "-", "http://h/p@q:r", ""})
    EXPECT_EQ(shown_input(s), s);
  EXPECT_EQ(shown_input("srt://u:%40pw@encoder:9000"), "srt://u:***@encoder:9000");
}

TEST(Error, AvCheckTranslatesFfmpegCodes) {
  try {
    VI_AV_CHECK(AVERROR_INVALIDDATA, "in.ts");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("in.ts: AVERROR_INVALIDDATA failed: Invalid data found when processing input"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("error_test.cpp:"), std::string::npos) << msg;
  }
}

// FFmpeg stores a stream's colour bytes unchecked (the fuzzer found matrix 127 in an MPEG-4 header).
TEST(Av, OutOfRangeColourEnumsReadAsUnspecified) {
  auto frame = make_av_frame();
  const int bad = 127, good = AVCOL_SPC_BT470BG;
  std::memcpy(&frame->colorspace, &bad, sizeof bad);  // as FFmpeg's C code leaves it
  EXPECT_EQ(read_color_space(frame->colorspace), AVCOL_SPC_UNSPECIFIED);
  std::memcpy(&frame->colorspace, &good, sizeof good);
  EXPECT_EQ(read_color_space(frame->colorspace), AVCOL_SPC_BT470BG);
  const int range = 3, primaries = 200, trc = -1;
  std::memcpy(&frame->color_range, &range, sizeof range);
  std::memcpy(&frame->color_primaries, &primaries, sizeof primaries);
  std::memcpy(&frame->color_trc, &trc, sizeof trc);
  EXPECT_EQ(read_color_range(frame->color_range), AVCOL_RANGE_UNSPECIFIED);
  EXPECT_EQ(read_color_primaries(frame->color_primaries), AVCOL_PRI_UNSPECIFIED);
  EXPECT_EQ(read_color_trc(frame->color_trc), AVCOL_TRC_UNSPECIFIED);
}

}  // namespace
}  // namespace vidinfer
