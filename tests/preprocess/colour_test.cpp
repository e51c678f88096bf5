// Colour conversion checked against the YCbCr -> RGB formula (not against swscale itself): clips are
// made losslessly from raw YCbCr values we choose, tagged with a matrix and range, and decoded.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "preprocess/cpu_preprocessor.h"
#include "support.h"

namespace vidinfer {
namespace {

struct Matrix {
  const char* tag;
  double kr, kb;
};
constexpr Matrix kBT601{"smpte170m", 0.299, 0.114};
constexpr Matrix kBT709{"bt709", 0.2126, 0.0722};
constexpr Matrix kBT2020{"bt2020nc", 0.2627, 0.0593};

struct Patch {
  int y, cb, cr;  // 8-bit code values; 10-bit clips use 4x these (+ small offsets)
};
// 8 patches of 16x16 in a 64x32 frame (4 across, 2 down): greys, saturated and mixed colours.
const Patch kPatches[8] = {{16, 128, 128}, {235, 128, 128}, {126, 128, 128}, {81, 90, 240},
                           {145, 54, 34},  {41, 240, 110},  {180, 100, 160}, {60, 160, 90}};

// The reference: R'G'B' in 0..255 from code values, per ITU-R BT.601/709/2020.
std::array<double, 3> formula(const Matrix& m, bool full, int bits, double y, double cb, double cr) {
  const double scale = 1 << (bits - 8);
  double yn, pb, pr;
  if (full) {
    const double maxv = (1 << bits) - 1;
    yn = y / maxv;
    pb = (cb - 128 * scale) / maxv;
    pr = (cr - 128 * scale) / maxv;
  } else {
    yn = (y - 16 * scale) / (219 * scale);
    pb = (cb - 128 * scale) / (224 * scale);
    pr = (cr - 128 * scale) / (224 * scale);
  }
  const double r = yn + 2 * (1 - m.kr) * pr;
  const double b = yn + 2 * (1 - m.kb) * pb;
  const double g = (yn - m.kr * r - m.kb * b) / (1 - m.kr - m.kb);
  auto to8 = [](double v) { return std::clamp(v, 0.0, 1.0) * 255.0; };
  return {to8(r), to8(g), to8(b)};
}

struct ColourCase {
  const char* name;
  Matrix matrix;
  bool full;
  int bits;
  const char* codec;  // lossless encoder arguments (H.264/HEVC: decodable by the GPU machine's FFmpeg too)
};

// Raw planar 4:2:0 frames (2 of them) with the patches.
std::vector<uint8_t> raw_frames(int bits) {
  constexpr int W = 64, H = 32;
  std::vector<uint8_t> out;
  for (int n = 0; n < 2; ++n) {
    std::vector<int> yp(W * H), cbp(W * H / 4), crp(W * H / 4);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const Patch& p = kPatches[(y / 16) * 4 + x / 16];
        const int extra = bits > 8 ? 1 : 0;  // exercise the low bits of 10-bit content
        yp[y * W + x] = (p.y << (bits - 8)) + extra;
        if (y % 2 == 0 && x % 2 == 0) {
          cbp[(y / 2) * (W / 2) + x / 2] = (p.cb << (bits - 8)) + extra;
          crp[(y / 2) * (W / 2) + x / 2] = (p.cr << (bits - 8)) - extra;
        }
      }
    for (const auto* plane : {&yp, &cbp, &crp})
      for (int v : *plane) {
        out.push_back(static_cast<uint8_t>(v & 0xff));
        if (bits > 8) out.push_back(static_cast<uint8_t>(v >> 8));
      }
  }
  return out;
}

class Colour : public ::testing::TestWithParam<ColourCase> {};

TEST_P(Colour, MatchesTheFormulaForTheTaggedMatrixAndRange) {
  const ColourCase& c = GetParam();
  // The raw input lives beside the cached clips under a fixed name, so the clip's cache key is stable.
  const std::string raw = test::data_file("colour-" + std::to_string(c.bits) + "bit.yuv");
  test::write_bytes(raw, raw_frames(c.bits));
  const std::string pix = c.bits == 8 ? "yuv420p" : "yuv420p10le";
  const std::string path = test::clip(
      std::string("colour-") + c.name, "mkv",
      "-f rawvideo -pix_fmt " + pix + " -s 64x32 -r 25 -i " + test::q(raw) + " -c:v " + c.codec +
          " -colorspace " + c.matrix.tag + " -color_range " + (c.full ? "pc" : "tv"));
  const auto decoded = test::decode_all(path);
  ASSERT_EQ(decoded.frames.size(), 2u);
  const AVFrame* f = decoded.frames[0].get();
  ASSERT_EQ(f->colorspace, c.matrix.tag == std::string("bt709") ? AVCOL_SPC_BT709
                           : c.matrix.tag == std::string("bt2020nc") ? AVCOL_SPC_BT2020_NCL
                                                                       : AVCOL_SPC_SMPTE170M);
  ASSERT_EQ(f->color_range, c.full ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG);

  const auto rgb = frame_to_rgb24(f, 64, 32);
  double worst = 0;
  for (int i = 0; i < 8; ++i) {
    const int cx = (i % 4) * 16 + 8, cy = (i / 4) * 16 + 8;
    const int extra = c.bits > 8 ? 1 : 0;
    const double sc = 1 << (c.bits - 8);
    const auto want = formula(c.matrix, c.full, c.bits, kPatches[i].y * sc + extra, kPatches[i].cb * sc + extra,
                              kPatches[i].cr * sc - extra);
    for (int ch = 0; ch < 3; ++ch) {
      const double got = rgb[(cy * 64 + cx) * 3 + ch];
      worst = std::max(worst, std::abs(got - want[ch]));
      EXPECT_NEAR(got, want[ch], 1.5) << "patch " << i << " channel " << ch;
    }
  }
  RecordProperty("max_abs_error", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(
    Tags, Colour,
    ::testing::Values(ColourCase{"bt601_limited", kBT601, false, 8, "libx264 -qp 0"},
                      ColourCase{"bt601_full", kBT601, true, 8, "libx264 -qp 0"},
                      ColourCase{"bt709_limited", kBT709, false, 8, "libx264 -qp 0"},
                      ColourCase{"bt709_full", kBT709, true, 8, "libx264 -qp 0"},
                      ColourCase{"bt709_limited_10bit_hevc", kBT709, false, 10,
                                 "libx265 -x265-params lossless=1:log-level=error"},
                      ColourCase{"bt2020_limited_10bit_hevc", kBT2020, false, 10,
                                 "libx265 -x265-params lossless=1:log-level=error"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ColourDefaults, UntaggedStreamsFollowTheirSize) {
  const auto hd = resolve_colour(AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_UNSPECIFIED, AV_PIX_FMT_YUV420P, 720);
  EXPECT_EQ(hd.sws_matrix, SWS_CS_ITU709);
  EXPECT_FALSE(hd.full_range);
  const auto sd = resolve_colour(AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_UNSPECIFIED, AV_PIX_FMT_YUV420P, 480);
  EXPECT_EQ(sd.sws_matrix, SWS_CS_ITU601);
  const auto jpeg = resolve_colour(AVCOL_SPC_BT470BG, AVCOL_RANGE_UNSPECIFIED, AV_PIX_FMT_YUVJ420P, 480);
  EXPECT_TRUE(jpeg.full_range);
}

TEST(ColourDefaults, UntaggedHdClipIsConvertedAsBt709) {
  // One 1280x720 frame of a single saturated patch, untagged.
  std::vector<uint8_t> raw(1280 * 720 * 3 / 2);
  std::fill_n(raw.begin(), 1280 * 720, 81);
  std::fill_n(raw.begin() + 1280 * 720, 640 * 360, 90);
  std::fill_n(raw.begin() + 1280 * 720 + 640 * 360, 640 * 360, 240);
  const std::string raw_path = test::data_file("untagged-hd.yuv");
  test::write_bytes(raw_path, raw);
  const std::string path = test::clip("untagged-hd", "mkv", "-f rawvideo -pix_fmt yuv420p -s 1280x720 -r 25 -i " +
                                                                test::q(raw_path) + " -c:v libx264 -qp 0");
  const auto decoded = test::decode_all(path);
  ASSERT_EQ(decoded.frames.size(), 1u);
  ASSERT_EQ(decoded.frames[0]->colorspace, AVCOL_SPC_UNSPECIFIED);
  const auto rgb = frame_to_rgb24(decoded.frames[0].get(), 1280, 720);
  const auto want709 = formula(kBT709, false, 8, 81, 90, 240);
  const auto want601 = formula(kBT601, false, 8, 81, 90, 240);
  const size_t centre = (360 * 1280 + 640) * 3;
  for (int ch = 0; ch < 3; ++ch) EXPECT_NEAR(rgb[centre + ch], want709[ch], 1.5) << ch;
  EXPECT_GT(std::abs(want709[1] - want601[1]), 10) << "the patch must tell the matrices apart";
}

}  // namespace
}  // namespace vidinfer
