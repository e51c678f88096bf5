// Annotated output: drawing on RGB tensors, the video writer (frame count, timestamps, colour) and PNG
// stills, checked by decoding what was written with FFmpeg.
#include <gtest/gtest.h>

#include "output/annotate.h"
#include "preprocess/cpu_preprocessor.h"
#include "support.h"

namespace vidinfer {
namespace {

// The GPU machine's FFmpeg kit has decoders only: writing tests skip there, saying so.
#define REQUIRE_ENCODER(id)                                                                    \
  do {                                                                                         \
    if (!avcodec_find_encoder(id)) GTEST_SKIP() << "this FFmpeg has no " #id " encoder";       \
  } while (0)

std::array<int, 3> px(const torch::Tensor& img, int y, int x) {
  return {img[y][x][0].item<int>(), img[y][x][1].item<int>(), img[y][x][2].item<int>()};
}

TEST(Annotate, DrawsTheBoxOutlineAndALabelTabAndNothingElse) {
  auto img = torch::zeros({120, 160, 3}, torch::kUInt8);
  Detection d;
  d.x1 = 40, d.y1 = 50, d.x2 = 100, d.y2 = 90;
  d.class_id = 3;
  d.label = "dog";
  d.score = 0.5f;
  draw_detections(img, {d});
  const auto edge = px(img, 50, 70), left = px(img, 70, 40), right = px(img, 70, 99), bottom = px(img, 89, 70);
  EXPECT_NE(edge, (std::array<int, 3>{0, 0, 0}));
  EXPECT_EQ(edge, left);
  EXPECT_EQ(edge, right);
  EXPECT_EQ(edge, bottom);
  EXPECT_EQ(px(img, 70, 70), (std::array<int, 3>{0, 0, 0})) << "the inside stays as it was";
  EXPECT_EQ(px(img, 110, 150), (std::array<int, 3>{0, 0, 0})) << "away from the box nothing changes";
  // The label tab sits on the box's top edge: filled with the box colour, with ink of another colour.
  auto tab = img.slice(0, 41, 50).slice(1, 40, 40 + 6 * 8 + 1);
  int colour = 0, ink = 0;
  for (int y = 0; y < tab.size(0); ++y)
    for (int x = 0; x < tab.size(1); ++x) {
      const auto p = px(tab, y, x);
      if (p == edge) ++colour;
      else ++ink;
    }
  EXPECT_GT(colour, 100);
  EXPECT_GT(ink, 40);
  // Boxes partly or wholly outside the picture are clipped, not fatal.
  Detection out = d;
  out.x1 = -50, out.y1 = -20, out.x2 = 400, out.y2 = 30;
  Detection gone = d;
  gone.x1 = 500, gone.x2 = 600;
  EXPECT_NO_THROW(draw_detections(img, {out, gone}));
}

TEST(Annotate, VideoKeepsEveryTimestampAndTheColours) {
  REQUIRE_ENCODER(AV_CODEC_ID_H264);
  test::TempDir dir;
  const std::string path = dir.file("v.mp4");
  // Variable frame rate: timestamps in ms with uneven gaps.
  const std::vector<int64_t> pts = {0, 40, 80, 150, 190, 260, 300, 340, 420, 460};
  {
    VideoWriter w(path, 96, 64, AVRational{1, 1000}, AVRational{25, 1});
    std::vector<uint8_t> rgb(96 * 64 * 3);
    for (size_t i = 0; i < pts.size(); ++i) {
      for (size_t k = 0; k < rgb.size(); k += 3) {
        rgb[k] = 200;
        rgb[k + 1] = static_cast<uint8_t>(20 * i);
        rgb[k + 2] = 40;
      }
      w.write(rgb.data(), 96 * 3, pts[i]);
    }
    EXPECT_FALSE(test::read_bytes(path + ".part").empty()) << "written under a temporary name";
    w.finish();
  }
  const auto frames = test::ffprobe_frames(path);
  ASSERT_EQ(frames.size(), pts.size());
  for (size_t i = 0; i < pts.size(); ++i) EXPECT_NEAR(frames[i].pts, pts[i] / 1000.0, 1e-3) << i;
  auto decoded = test::decode_all(path);
  ASSERT_EQ(decoded.frames.size(), pts.size());
  for (size_t i = 0; i < pts.size(); ++i) {
    const auto rgb = frame_to_rgb24(decoded.frames[i].get(), 96, 64);
    const size_t mid = (32 * 96 + 48) * 3;
    EXPECT_NEAR(rgb[mid], 200, 4) << i;
    EXPECT_NEAR(rgb[mid + 1], 20 * i, 4) << i;
    EXPECT_NEAR(rgb[mid + 2], 40, 4) << i;
  }
}

TEST(Annotate, AnUnfinishedVideoLeavesNoFile) {
  REQUIRE_ENCODER(AV_CODEC_ID_H264);
  test::TempDir dir;
  {
    VideoWriter w(dir.file("v.mp4"), 64, 48, AVRational{1, 25}, AVRational{25, 1});
    std::vector<uint8_t> rgb(64 * 48 * 3, 100);
    w.write(rgb.data(), 64 * 3, 0);
  }  // destroyed without finish(): as when a run is interrupted
  EXPECT_TRUE(test::read_bytes(dir.file("v.mp4")).empty());
  EXPECT_TRUE(test::read_bytes(dir.file("v.mp4.part")).empty());
  EXPECT_NE(test::error_of([&] { VideoWriter(dir.file("v.xyz123"), 64, 48, {1, 25}, {25, 1}); }).find("no container"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { VideoWriter(dir.file("no/such/dir/v.mp4"), 64, 48, {1, 25}, {25, 1}); })
                .find(dir.file("no/such/dir/v.mp4")),
            std::string::npos);
}

TEST(Annotate, PngIsLossless) {
  REQUIRE_ENCODER(AV_CODEC_ID_PNG);
  test::TempDir dir;
  std::vector<uint8_t> rgb(40 * 30 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 7);
  write_png(dir.file("a.png"), rgb.data(), 40, 30, 40 * 3);
  const auto raw = test::sh("ffmpeg -v error -i " + test::q(dir.file("a.png")) + " -f rawvideo -pix_fmt rgb24 " +
                            test::q(dir.file("a.rgb")));
  EXPECT_EQ(test::read_bytes(dir.file("a.rgb")), rgb) << raw;
}

}  // namespace
}  // namespace vidinfer
