// End to end through the library: generated clips with known content, models built in LibTorch.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "pipeline_support.h"
#include "preprocess/cpu_preprocessor.h"
#include "support.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"
#include "vidinfer/probe.h"

namespace vidinfer {
namespace {

using test::pipeline::classify_options;
using test::pipeline::PipelineTest;
using test::pipeline::rgb_clip;
using test::pipeline::run;

// 320x180, 25 fps, 50 frames: a 40x40 white square on black at x = 20 + 4n, y = 70.
std::string square_clip() {
  return test::clip("moving-square", "mp4",
                    "-f lavfi -i \"color=black:s=320x180:r=25:d=2,format=yuv420p,"
                    "geq=lum='if(between(X,20+4*N,59+4*N)*between(Y,70,109),235,16)':cb=128:cr=128\" "
                    "-c:v libx264 -preset ultrafast -crf 12 -pix_fmt yuv420p");
}

RunOptions detect_options(const std::string& model, ResizeMode mode) {
  RunOptions o = classify_options(model);
  o.task = Task::Detect;
  o.spec.width = o.spec.height = 160;
  o.spec.resize = mode;
  o.spec.letterbox_fill = 0;
  o.labels = {"square", "square-dense"};
  return o;
}

TEST_F(PipelineTest, ClassifiesEveryFrameInOrderWithFfprobeTimestamps) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  const std::string clip = rgb_clip();
  const auto ref = test::ffprobe_frames(clip);
  ASSERT_EQ(ref.size(), 75u);
  const auto c = run(classify_options(dir.file("m.pt")), {clip});
  ASSERT_EQ(c.frames.size(), 75u);
  for (size_t i = 0; i < c.frames.size(); ++i) {
    const auto& f = c.frames[i];
    EXPECT_EQ(f.frame_index, static_cast<int64_t>(i));
    EXPECT_NEAR(f.pts, ref[i].pts, 1e-6);
    EXPECT_EQ(f.width, 128);
    ASSERT_EQ(f.classes.size(), 1u);
    EXPECT_EQ(f.classes[0].label, (std::array<const char*, 3>{"red", "green", "blue"}[i / 25])) << "frame " << i;
  }
  ASSERT_EQ(c.summary.inputs.size(), 1u);
  EXPECT_EQ(c.summary.inputs[0].status, InputStatus::Ok);
  EXPECT_EQ(c.summary.inputs[0].frames_decoded, 75);
  EXPECT_EQ(c.summary.inputs[0].frames_processed, 75);
  EXPECT_EQ(c.summary.frames, 75);
  EXPECT_GT(c.summary.fps, 0);
  EXPECT_GT(c.summary.stages.decode, 0);
  EXPECT_GT(c.summary.stages.infer, 0);
  EXPECT_EQ(c.summary.device, "cpu");
}

class DetectModes : public PipelineTest, public ::testing::WithParamInterface<ResizeMode> {};

TEST_P(DetectModes, FindsTheSquareInOriginalFramePixels) {
  test::make_bright_box_detector(dir.file("d.pt"));
  const auto c = run(detect_options(dir.file("d.pt"), GetParam()), {square_clip()});
  ASSERT_EQ(c.frames.size(), 50u);
  int checked = 0;
  for (const auto& f : c.frames) {
    const double x1 = 20 + 4.0 * f.frame_index;
    // Centre-crop to a square shows frame x in [70, 250] only: check the frames where the square is inside.
    if (GetParam() == ResizeMode::CenterCrop && (x1 < 72 || x1 + 40 > 248)) continue;
    ASSERT_EQ(f.detections.size(), 1u) << "frame " << f.frame_index;
    const Detection& d = f.detections[0];
    EXPECT_NEAR(d.x1, x1, 3.0) << "frame " << f.frame_index;
    EXPECT_NEAR(d.x2, x1 + 40, 3.0) << "frame " << f.frame_index;
    EXPECT_NEAR(d.y1, 70, 3.0) << "frame " << f.frame_index;
    EXPECT_NEAR(d.y2, 110, 3.0) << "frame " << f.frame_index;
    EXPECT_FLOAT_EQ(d.score, 0.9f);
    EXPECT_EQ(d.label, "square");
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// --apply-rotation: a clip tagged with rotation metadata gives the boxes, in the turned frame's
// coordinates and size, that the detector finds on FFmpeg's own turn of it (the ffmpeg CLI turns
// frames on decode as players do, and writes them untagged).
class Rotation : public ::testing::TestWithParam<int> {};

TEST_P(Rotation, AppliedAsFfmpegTurnsTheFrames) {
  test::TempDir dir;
  test::make_bright_box_detector(dir.file("d.pt"));
  const std::string tag = std::to_string(GetParam());
  const std::string tagged = test::clip("square-rotate" + tag, "mp4",
                                        "-i " + test::q(square_clip()) + " -c copy -metadata:s:v:0 rotate=" + tag);
  const std::string turned = test::clip("square-turned" + tag, "mp4",
                                        "-i " + test::q(tagged) + " -c:v libx264 -preset ultrafast -crf 12 -pix_fmt yuv420p");
  ASSERT_NE(probe(tagged).rotation, 0.0);
  ASSERT_EQ(probe(turned).rotation, 0.0) << "the reference must be turned already";
  const bool quarter = GetParam() % 180 != 0;
  for (ResizeMode mode : {ResizeMode::Stretch, ResizeMode::Letterbox}) {
    SCOPED_TRACE(to_string(mode));
    RunOptions o = detect_options(dir.file("d.pt"), mode);
    const auto ref = run(o, {turned});
    const auto as_decoded = run(o, {tagged});
    o.apply_rotation = true;
    const auto got = run(o, {tagged});
    ASSERT_EQ(ref.frames.size(), 50u);
    ASSERT_EQ(got.frames.size(), 50u);
    int moved = 0;
    for (size_t i = 0; i < got.frames.size(); ++i) {
      const FrameResult& g = got.frames[i];
      const FrameResult& r = ref.frames[i];
      EXPECT_EQ(g.width, quarter ? 180 : 320);
      EXPECT_EQ(g.height, quarter ? 320 : 180);
      EXPECT_EQ(as_decoded.frames[i].width, 320);
      ASSERT_EQ(g.detections.size(), 1u) << "frame " << i;
      ASSERT_EQ(r.detections.size(), 1u) << "frame " << i;
      const Detection& a = g.detections[0];
      const Detection& b = r.detections[0];
      EXPECT_NEAR(a.x1, b.x1, 2.5) << "frame " << i;
      EXPECT_NEAR(a.y1, b.y1, 2.5) << "frame " << i;
      EXPECT_NEAR(a.x2, b.x2, 2.5) << "frame " << i;
      EXPECT_NEAR(a.y2, b.y2, 2.5) << "frame " << i;
      const Detection& c = as_decoded.frames[i].detections.at(0);
      moved += std::abs(a.x1 - c.x1) > 10 || std::abs(a.y1 - c.y1) > 10;
    }
    EXPECT_GT(moved, 25);  // turning changed where the square is
  }
}

INSTANTIATE_TEST_SUITE_P(Tags, Rotation, ::testing::Values(90, 180, 270),
                         [](const auto& info) { return "rotate" + std::to_string(info.param); });

INSTANTIATE_TEST_SUITE_P(Modes, DetectModes,
                         ::testing::Values(ResizeMode::Stretch, ResizeMode::Letterbox, ResizeMode::CenterCrop),
                         [](const auto& info) { return std::string() +
                                                       (info.param == ResizeMode::Stretch     ? "stretch"
                                                        : info.param == ResizeMode::Letterbox ? "letterbox"
                                                                                              : "center_crop"); });

TEST_F(PipelineTest, DenseHeadIsThresholdedAndSuppressed) {
  test::make_bright_box_dense_detector(dir.file("d.pt"));
  RunOptions o = detect_options(dir.file("d.pt"), ResizeMode::Stretch);
  o.spec.detect_layout = DetectLayout::Dense;
  o.score_threshold = 0.3f;
  o.iou_threshold = 0.5f;
  const auto c = run(o, {square_clip()});
  ASSERT_EQ(c.frames.size(), 50u);
  for (const auto& f : c.frames) {
    ASSERT_EQ(f.detections.size(), 1u) << "frame " << f.frame_index;  // the shifted copy is suppressed
    EXPECT_EQ(f.detections[0].label, "square-dense");
    EXPECT_FLOAT_EQ(f.detections[0].score, 0.9f);
    EXPECT_NEAR(f.detections[0].x1, 20 + 4.0 * f.frame_index, 3.0);
  }
}

TEST_F(PipelineTest, FrameSelection) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  RunOptions o = classify_options(dir.file("m.pt"));
  o.selection.every = 3;
  o.selection.start = 1.0;
  o.selection.end = 2.0;
  auto c = run(o, {rgb_clip()});
  ASSERT_EQ(c.frames.size(), 9u);  // frames 25, 28, ..., 49
  for (size_t i = 0; i < c.frames.size(); ++i) {
    EXPECT_EQ(c.frames[i].frame_index, 25 + 3 * static_cast<int64_t>(i));
    EXPECT_EQ(c.frames[i].classes[0].label, "green");
  }
  o.selection = {};
  o.selection.max_frames = 4;
  c = run(o, {rgb_clip(), rgb_clip()});
  ASSERT_EQ(c.frames.size(), 8u);
  EXPECT_EQ(c.frames[3].frame_index, 3);
  EXPECT_EQ(c.frames[4].frame_index, 0);
}

TEST_F(PipelineTest, BatchSizesThatDoNotDivideTheFrameCount) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  for (int batch : {1, 7, 100}) {
    RunOptions o = classify_options(dir.file("m.pt"));
    o.spec.batch = batch;
    const auto c = run(o, {rgb_clip()});
    ASSERT_EQ(c.frames.size(), 75u) << "batch " << batch;
    EXPECT_EQ(c.frames.back().frame_index, 74);
  }
}

// The default detector on the original photos at their own sizes, through the pipeline's own decode
// and resize (not the reference's): what a person sees and TF.js also found at >= 0.3 must be there,
// where TF.js put it (its 512x512 boxes scaled to the photo: IoU >= 0.7).
TEST_F(PipelineTest, DefaultDetectorFindsWhatAPersonSeesInThePhotos) {
  const std::string model = VIDINFER_SOURCE_DIR "/models/centernet/centernet.pt";
  const std::string photos = VIDINFER_SOURCE_DIR "/tests/data/centernet/photos/";
  const std::string ref = VIDINFER_SOURCE_DIR "/tests/data/centernet/";
  const Sidecar side = load_model_sidecar(model);
  RunOptions o;
  o.model_path = model;
  o.task = Task::Detect;
  o.spec = side.spec;
  o.spec.batch = 2;
  o.labels = side.labels;
  o.device = Device::cpu();
  o.score_threshold = 0.3f;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"dog", {"bicycle", "dog"}}, {"horses", {"horse"}}, {"person", {"person"}}};
  for (const auto& [photo, must] : cases) {
    const std::string clip = test::clip("photo-" + photo, "mp4",
                                        "-loop 1 -i " + test::q(photos + photo + ".jpg") +
                                            " -frames:v 2 -vf 'scale=trunc(iw/2)*2:trunc(ih/2)*2' -c:v libx264 "
                                            "-preset ultrafast -crf 10 -pix_fmt yuv420p");
    const auto r = run(o, {clip});
    ASSERT_EQ(r.frames.size(), 2u) << photo;
    const auto& f = r.frames[0];
    const auto bytes = test::read_bytes(ref + photo + ".detections.f32");
    std::vector<float> det(bytes.size() / 4);
    std::memcpy(det.data(), bytes.data(), bytes.size());
    for (const auto& label : must) {
      // The original's best box of this class, in photo pixels.
      const int cls = static_cast<int>(std::find(o.labels.begin(), o.labels.end(), label) - o.labels.begin());
      Detection want;
      bool in_ref = false;
      for (size_t i = 0; i + 6 <= det.size(); i += 6)
        if (static_cast<int>(det[i + 5]) == cls && det[i + 4] >= 0.3f && !in_ref) {
          in_ref = true;
          want.x1 = det[i] * f.width / 512.f;
          want.y1 = det[i + 1] * f.height / 512.f;
          want.x2 = det[i + 2] * f.width / 512.f;
          want.y2 = det[i + 3] * f.height / 512.f;
        }
      ASSERT_TRUE(in_ref) << photo << ": the original finds no " << label;
      double best = 0;
      for (const auto& d : f.detections)
        if (d.label == label) {
          const double iw = std::max(0.f, std::min(d.x2, want.x2) - std::max(d.x1, want.x1));
          const double ih = std::max(0.f, std::min(d.y2, want.y2) - std::max(d.y1, want.y1));
          const double inter = iw * ih;
          best = std::max(best, inter / ((d.x2 - d.x1) * (d.y2 - d.y1) + (want.x2 - want.x1) * (want.y2 - want.y1) - inter));
        }
      std::printf("%s: %s, best IoU with the original's box %.3f\n", photo.c_str(), label.c_str(), best);
      EXPECT_GE(best, 0.7) << photo << ": " << label;
    }
  }
}

// --annotate: every frame of the input, with its own timestamps, boxes where the detections are;
// --annotate-frames: a PNG of each processed frame.
TEST_F(PipelineTest, AnnotatedVideoAndStills) {
  test::make_bright_box_detector(dir.file("d.pt"));
  const std::string clip = square_clip();
  if (!avcodec_find_encoder(AV_CODEC_ID_H264) || !avcodec_find_encoder(AV_CODEC_ID_PNG))
    GTEST_SKIP() << "this FFmpeg has no H.264 or PNG encoder (the GPU machine's kit has decoders only)";
  RunOptions o = detect_options(dir.file("d.pt"), ResizeMode::Stretch);
  o.annotate_video = dir.file("{name}.annotated.mp4");
  o.annotate_frames_dir = dir.path();
  o.selection.every = 10;
  const auto c = run(o, {clip});
  ASSERT_EQ(c.summary.inputs[0].status, InputStatus::Ok) << c.summary.inputs[0].error;
  ASSERT_EQ(c.frames.size(), 5u);
  std::string stem = clip.substr(clip.find_last_of('/') + 1);
  stem = stem.substr(0, stem.find_last_of('.'));
  const std::string out = dir.file(stem + ".annotated.mp4");
  const auto in_frames = test::ffprobe_frames(clip), out_frames = test::ffprobe_frames(out);
  ASSERT_EQ(out_frames.size(), in_frames.size()) << out;
  for (size_t i = 0; i < in_frames.size(); ++i) EXPECT_NEAR(out_frames[i].pts, in_frames[i].pts, 1e-3) << i;
  // Frame 10 was processed: the square at x 60..99, y 70..109, its box drawn in class 0's colour.
  auto decoded = test::decode_all(out);
  const auto rgb = frame_to_rgb24(decoded.frames[10].get(), 320, 180);
  auto at = [&](int y, int x, int ch) { return static_cast<int>(rgb[(y * 320 + x) * 3 + ch]); };
  ASSERT_EQ(c.frames[1].frame_index, 10);
  ASSERT_EQ(c.frames[1].detections.size(), 1u);
  const int top = static_cast<int>(c.frames[1].detections[0].y1);  // the outline's first row
  EXPECT_GT(at(top, 80, 0), 170) << "row " << top;  // (230, 25, 75)
  EXPECT_LT(at(top, 80, 1), 90) << "row " << top;
  EXPECT_GT(at(90, 80, 1), 200) << "inside the box the white square is untouched";
  EXPECT_LT(at(150, 200, 0), 40) << "the black background is untouched";
  for (int f : {0, 10, 20, 30, 40}) {
    char name[32];
    std::snprintf(name, sizeof name, "-%06d.png", f);
    EXPECT_FALSE(test::read_bytes(dir.file(stem + name)).empty()) << stem + name;
  }
  EXPECT_TRUE(test::read_bytes(dir.file(stem + "-000001.png")).empty());

  // An annotation that cannot be written fails its input clearly; its results were still delivered.
  o.annotate_video = dir.file("no/such/dir/{name}.mp4");
  o.annotate_frames_dir.clear();
  const auto bad = run(o, {clip});
  EXPECT_EQ(bad.frames.size(), 5u);
  EXPECT_EQ(bad.summary.inputs[0].status, InputStatus::Failed);
  EXPECT_NE(bad.summary.inputs[0].error.find(dir.file("no/such/dir/" + stem + ".mp4")), std::string::npos)
      << bad.summary.inputs[0].error;
}

// Variable frame rate: 1 s at 10 fps then 1 s at 30 fps in one stream. Timestamps come from the
// container (as ffprobe reads them), not from a nominal rate.
TEST_F(PipelineTest, VariableFrameRateKeepsTheContainersTimestamps) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  const std::string clip = test::clip("vfr-10-30", "mkv",
                                      "-f lavfi -i testsrc2=size=160x120:rate=10:duration=1 "
                                      "-f lavfi -i testsrc2=size=160x120:rate=30:duration=1 "
                                      "-filter_complex concat=n=2:v=1:a=0 -fps_mode vfr -c:v libx264 "
                                      "-preset ultrafast -pix_fmt yuv420p");
  const auto ref = test::ffprobe_frames(clip);
  ASSERT_EQ(ref.size(), 40u);
  EXPECT_NEAR(ref[1].pts - ref[0].pts, 0.1, 2e-3);     // the slow part
  EXPECT_NEAR(ref[39].pts - ref[38].pts, 1 / 30.0, 2e-3);  // the fast part
  const auto c = run(classify_options(dir.file("m.pt")), {clip});
  ASSERT_EQ(c.frames.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(c.frames[i].pts, ref[i].pts, 1e-6) << "frame " << i;
}

// Very large and extreme dimensions (20000x32 and 16x20000, beyond what NVDEC or libx264 take; FFV1
// here): every frame is processed in every resize mode, and the output keeps the frame's size.
TEST_F(PipelineTest, ExtremeDimensionsAreProcessedInEveryResizeMode) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  for (const char* size : {"20000x32", "16x20000"}) {
    const std::string clip = test::clip(std::string("huge-") + size, "mkv",
                                        std::string("-f lavfi -i color=red:s=") + size +
                                            ":r=5:d=1 -c:v ffv1 -pix_fmt yuv420p");
    for (ResizeMode mode : {ResizeMode::Stretch, ResizeMode::Letterbox, ResizeMode::CenterCrop}) {
      RunOptions o = classify_options(dir.file("m.pt"));
      o.spec.resize = mode;
      o.spec.letterbox_fill = 0;
      const auto c = run(o, {clip});
      ASSERT_EQ(c.summary.inputs[0].status, InputStatus::Ok) << size << ": " << c.summary.inputs[0].error;
      ASSERT_EQ(c.frames.size(), 5u) << size;
      EXPECT_EQ(std::to_string(c.frames[0].width) + "x" + std::to_string(c.frames[0].height), size);
      EXPECT_EQ(c.frames[0].classes.at(0).label, "red") << size << " " << to_string(mode);
    }
  }
}

// RunOptions::nvdec_resize is about NVDEC only: where libavcodec decodes, results are unchanged.
TEST_F(PipelineTest, NvdecResizeChangesNothingWhereLibavcodecDecodes) {
  test::make_bright_box_detector(dir.file("d.pt"));
  RunOptions o = detect_options(dir.file("d.pt"), ResizeMode::Letterbox);
  const auto plain = run(o, {square_clip()});
  o.nvdec_resize = true;
  const auto resized = run(o, {square_clip()});
  ASSERT_EQ(plain.frames.size(), 50u);
  ASSERT_EQ(resized.frames.size(), plain.frames.size());
  for (size_t i = 0; i < plain.frames.size(); ++i) {
    const auto &a = plain.frames[i], &b = resized.frames[i];
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.pts, b.pts);
    ASSERT_EQ(a.detections.size(), b.detections.size()) << i;
    for (size_t k = 0; k < a.detections.size(); ++k) {
      EXPECT_EQ(a.detections[k].x1, b.detections[k].x1) << i;
      EXPECT_EQ(a.detections[k].y2, b.detections[k].y2) << i;
    }
  }
  EXPECT_EQ(resized.summary.inputs[0].decoder, plain.summary.inputs[0].decoder);
}

}  // namespace
}  // namespace vidinfer
