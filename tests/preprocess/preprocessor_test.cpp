#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "decode/decoder.h"
#include "preprocess/cpu_preprocessor.h"
#include "preprocess/geometry.h"
#include "preprocess/gpu_preprocessor.h"
#include "support.h"

namespace vidinfer {
namespace {

ModelSpec spec_of(int w, int h, ResizeMode mode) {
  ModelSpec s;
  s.width = w;
  s.height = h;
  s.resize = mode;
  return s;
}

TEST(Geometry, Stretch) {
  const Geometry g = plan_geometry(1920, 1080, spec_of(224, 224, ResizeMode::Stretch));
  EXPECT_EQ(g.scaled_w, 224);
  EXPECT_EQ(g.scaled_h, 224);
  EXPECT_EQ(g.offset_x, 0);
  EXPECT_EQ(g.offset_y, 0);
  EXPECT_DOUBLE_EQ(g.to_frame_x(224), 1920);
  EXPECT_DOUBLE_EQ(g.to_frame_y(112), 540);
}

TEST(Geometry, LetterboxFitsAndCentres) {
  const Geometry g = plan_geometry(1920, 1080, spec_of(640, 640, ResizeMode::Letterbox));
  EXPECT_EQ(g.scaled_w, 640);
  EXPECT_EQ(g.scaled_h, 360);
  EXPECT_EQ(g.offset_x, 0);
  EXPECT_EQ(g.offset_y, 140);
  EXPECT_DOUBLE_EQ(g.to_frame_y(140), 0);
  EXPECT_DOUBLE_EQ(g.to_frame_y(500), 1080);
  EXPECT_DOUBLE_EQ(g.to_frame_x(320), 960);
}

TEST(Geometry, CenterCropCoversAndCentres) {
  const Geometry g = plan_geometry(1920, 1080, spec_of(224, 224, ResizeMode::CenterCrop));
  EXPECT_EQ(g.scaled_h, 224);
  EXPECT_EQ(g.scaled_w, 398);  // round(1920 * 224 / 1080)
  EXPECT_EQ(g.offset_x, -87);
  EXPECT_EQ(g.offset_y, 0);
  EXPECT_NEAR(g.to_frame_x(0), 87 * 1920.0 / 398, 1e-9);
}

TEST(Geometry, PortraitLetterbox) {
  const Geometry g = plan_geometry(1080, 1920, spec_of(320, 320, ResizeMode::Letterbox));
  EXPECT_EQ(g.scaled_w, 180);
  EXPECT_EQ(g.scaled_h, 320);
  EXPECT_EQ(g.offset_x, 70);
}

// --nvdec-resize: the size NVDEC decodes to is the scaled frame, unturned, when it is even and not
// larger than the picture; else the picture's own size (the kernel resizes), with the reason.
TEST(Geometry, NvdecTargetSizeIsTheScaledFrameWhereNvdecCanMakeIt) {
  using Size = std::pair<int, int>;
  std::string why = "unset";
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(224, 224, ResizeMode::Stretch)), &why), Size(224, 224));
  EXPECT_EQ(why, "");
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(640, 640, ResizeMode::Letterbox))), Size(640, 360));
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(224, 224, ResizeMode::CenterCrop))), Size(398, 224));
  // Down on one axis, the same on the other.
  EXPECT_EQ(nvdec_target_size(plan_geometry(96, 64, spec_of(64, 64, ResizeMode::Stretch))), Size(64, 64));
  // A quarter turn: the frame is resized unturned, to scaled_h x scaled_w (see unturn).
  const Geometry turned = plan_geometry(1920, 1080, spec_of(224, 160, ResizeMode::Stretch), 90);
  ASSERT_EQ(turned.scaled_w, 224);
  ASSERT_EQ(turned.scaled_h, 160);
  EXPECT_EQ(nvdec_target_size(turned), Size(160, 224));
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(640, 640, ResizeMode::Letterbox), 270)), Size(640, 360));
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(224, 160, ResizeMode::Stretch), 180)), Size(224, 160));
}

TEST(Geometry, NvdecTargetSizeIsThePicturesOwnWhereNvdecCannotMakeItExactly) {
  using Size = std::pair<int, int>;
  std::string why;
  // Odd: 1920x1080 letterboxed into 300x300 is 300x169.
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(300, 300, ResizeMode::Letterbox)), &why),
            Size(1920, 1080));
  EXPECT_EQ(why, "the scaled size 300x169 is odd (NVDEC scales to even sizes only)");
  EXPECT_EQ(nvdec_target_size(plan_geometry(1920, 1080, spec_of(225, 224, ResizeMode::Stretch)), &why), Size(1920, 1080));
  EXPECT_EQ(why, "the scaled size 225x224 is odd (NVDEC scales to even sizes only)");
  // Enlarged on either axis (the bundled detector's 512x512 stretch of a 640x360 video), or both.
  EXPECT_EQ(nvdec_target_size(plan_geometry(640, 360, spec_of(512, 512, ResizeMode::Stretch)), &why), Size(640, 360));
  EXPECT_EQ(why, "an axis is enlarged (640x360 to 512x512)");
  EXPECT_EQ(nvdec_target_size(plan_geometry(160, 120, spec_of(320, 240, ResizeMode::Stretch)), &why), Size(160, 120));
  EXPECT_EQ(why, "an axis is enlarged (160x120 to 320x240)");
  // The same size.
  EXPECT_EQ(nvdec_target_size(plan_geometry(640, 360, spec_of(640, 360, ResizeMode::Stretch)), &why), Size(640, 360));
  EXPECT_EQ(why, "the frame keeps its size 640x360");
  // Turned: the reasons speak of the decoded (unturned) picture.
  EXPECT_EQ(nvdec_target_size(plan_geometry(640, 360, spec_of(360, 640, ResizeMode::Stretch), 90), &why), Size(640, 360));
  EXPECT_EQ(why, "the frame keeps its size 640x360");
  EXPECT_EQ(nvdec_target_size(plan_geometry(640, 360, spec_of(180, 321, ResizeMode::Stretch), 270), &why), Size(640, 360));
  EXPECT_EQ(why, "the scaled size 321x180 is odd (NVDEC scales to even sizes only)");
}

// The kernel's parameters for a frame NVDEC decoded at the scaled size (320x180 of a 1920x1080
// picture): read 1:1 from the surface, geometry and colour guess from the picture, chroma sited as
// for any resize; and for a frame at full size, as before. (No GPU needed: nothing is launched.)
TEST(GpuPreprocessorParams, FrameDecodedAtTheScaledSizeIsReadOneToOne) {
  const ModelSpec spec = spec_of(320, 320, ResizeMode::Letterbox);
  GpuPreprocessor pre(spec);
  auto frame = make_av_frame();
  frame->format = AV_PIX_FMT_NV12;
  frame->colorspace = AVCOL_SPC_UNSPECIFIED;  // the matrix is guessed from the height
  frame->color_range = AVCOL_RANGE_MPEG;
  frame->linesize[0] = frame->linesize[1] = 512;
  frame->width = 320;
  frame->height = 180;
  const Geometry g = plan_geometry(1920, 1080, spec);
  const auto p = pre.params(frame.get(), g, 0);
  EXPECT_EQ(p.src_w, 320);
  EXPECT_EQ(p.src_h, 180);
  EXPECT_EQ(p.scaled_w, 320);
  EXPECT_EQ(p.scaled_h, 180);
  EXPECT_EQ(p.offset_y, 70);
  EXPECT_FLOAT_EQ(p.kr, 0.2126f) << "a 1080-line picture is assumed BT.709, whatever its surface's height";
  EXPECT_FLOAT_EQ(p.chroma_shift_y, 0.f);
  EXPECT_FALSE(p.chroma_clamp_last);

  frame->width = 1920;
  frame->height = 1080;
  const Geometry same = plan_geometry(1920, 1080, spec_of(1920, 1080, ResizeMode::Stretch));
  GpuPreprocessor full(spec_of(1920, 1080, ResizeMode::Stretch));
  const auto q = full.params(frame.get(), same, 0);
  EXPECT_EQ(q.src_w, 1920);
  EXPECT_FLOAT_EQ(q.chroma_shift_y, full.chroma_shift_y);
  EXPECT_TRUE(q.chroma_clamp_last);

  frame->width = 640;
  frame->height = 360;
  const Geometry small = plan_geometry(640, 360, spec);
  const auto r = pre.params(frame.get(), small, 0);
  EXPECT_FLOAT_EQ(r.kr, 0.299f) << "a 360-line picture is assumed BT.601";
}

TEST(GpuPreprocessorParams, HostFramesShowTheirOwnSize) {
  auto frame = make_av_frame();
  frame->width = 64;
  frame->height = 48;
  EXPECT_EQ(shown_size(frame.get()), std::make_pair(64, 48));
}

// The preprocessor's output against the same frame converted to RGB at the scaled size and then
// normalised by hand: checks layout (CHW), channel order, normalisation, padding and cropping.
class Preprocess : public ::testing::TestWithParam<ResizeMode> {};

TEST_P(Preprocess, WritesNormalisedChwInTheModelsChannelOrder) {
  const auto decoded = test::decode_all(test::media::h264_mp4());  // 160x120
  const AVFrame* f = decoded.frames[10].get();
  for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
    ModelSpec s = spec_of(96, 64, GetParam());
    s.channels = order;
    s.mean = {0.1f, 0.2f, 0.3f};
    s.std = {0.5f, 0.25f, 0.2f};
    s.letterbox_fill = 50;
    CpuPreprocessor pre(s);
    std::vector<float> out(3 * 96 * 64, -999.f);
    const Geometry g = pre.run(f, out.data());
    const auto rgb = frame_to_rgb24(f, g.scaled_w, g.scaled_h);
    int checked = 0;
    for (int c = 0; c < 3; ++c) {
      const int src_c = order == ChannelOrder::RGB ? c : 2 - c;
      for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 96; ++x) {
          const int sx = x - g.offset_x, sy = y - g.offset_y;
          const bool inside = sx >= 0 && sy >= 0 && sx < g.scaled_w && sy < g.scaled_h;
          const float v = inside ? rgb[(sy * g.scaled_w + sx) * 3 + src_c] : 50.f;
          const float want = (v / 255.f - s.mean[c]) / s.std[c];
          ASSERT_NEAR(out[(c * 64 + y) * 96 + x], want, 1e-5) << "c " << c << " y " << y << " x " << x;
          ++checked;
        }
      }
    }
    EXPECT_EQ(checked, 3 * 96 * 64);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, Preprocess,
                         ::testing::Values(ResizeMode::Stretch, ResizeMode::Letterbox, ResizeMode::CenterCrop),
                         [](const auto& info) {
                           return info.param == ResizeMode::Stretch     ? "stretch"
                                  : info.param == ResizeMode::Letterbox ? "letterbox"
                                                                        : "center_crop";
                         });

TEST(Preprocess, HandlesSizeChangesBetweenFrames) {
  const auto a = test::decode_all(test::media::h264_mp4());
  const auto b = test::decode_all(test::clip("small", "mp4", "-f lavfi -i testsrc2=size=96x64:rate=30:duration=0.2 "
                                                              "-c:v libx264 -preset ultrafast -pix_fmt yuv420p"));
  CpuPreprocessor pre(spec_of(32, 32, ResizeMode::Letterbox));
  std::vector<float> out(3 * 32 * 32);
  EXPECT_EQ(pre.run(a.frames[0].get(), out.data()).src_w, 160);
  EXPECT_EQ(pre.run(b.frames[0].get(), out.data()).src_w, 96);
  EXPECT_EQ(pre.run(a.frames[1].get(), out.data()).src_w, 160);
}

// A frame swscale cannot take after one it could (a stream whose format changes part-way; the
// fuzzer found it): the error names the format, the preprocessor still works for the next good
// frame, and nothing is freed twice (swscale freed the old context when it tried to make the new
// one; the ASan build checks).
TEST(Preprocess, UnsupportedFormatAfterAGoodFrameFailsCleanly) {
  const auto a = test::decode_all(test::media::h264_mp4());
  CpuPreprocessor pre(spec_of(32, 32, ResizeMode::Stretch));
  std::vector<float> out(3 * 32 * 32);
  EXPECT_EQ(pre.run(a.frames[0].get(), out.data()).src_w, 160);
  auto hw = make_av_frame();
  hw->format = AV_PIX_FMT_VAAPI;  // a hardware surface: no pixels swscale can read
  hw->width = 160;
  hw->height = 120;
  try {
    pre.run(hw.get(), out.data());
    ADD_FAILURE() << "a VAAPI frame was converted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cannot convert frame: unsupported pixel format vaapi");
  }
  EXPECT_EQ(pre.run(a.frames[1].get(), out.data()).src_w, 160);
}

// A frame 40000 pixels wide (the fuzzer made one): its size goes into the context's key without
// overflowing an int (the UBSan build checks), and it is scaled like any other.
TEST(Preprocess, VeryWideFrame) {
  auto f = make_av_frame();
  f->format = AV_PIX_FMT_YUV420P;
  f->width = 40000;
  f->height = 2;
  ASSERT_EQ(av_frame_get_buffer(f.get(), 0), 0);
  for (int p = 0; p < 3; ++p)
    for (int y = 0; y < (p ? 1 : 2); ++y) std::fill_n(f->data[p] + y * f->linesize[p], p ? 20000 : 40000, p ? 128 : 235);
  const ModelSpec s = spec_of(32, 32, ResizeMode::Stretch);
  CpuPreprocessor pre(s);
  std::vector<float> out(3 * 32 * 32);
  EXPECT_EQ(pre.run(f.get(), out.data()).src_w, 40000);
  // Limited-range white (luma 235, chroma 128) becomes RGB 255, normalised with the spec's mean and std.
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(out[static_cast<size_t>(c) * 32 * 32], (1.0f - s.mean[c]) / s.std[c], 0.02f) << c;
}

}  // namespace
}  // namespace vidinfer
