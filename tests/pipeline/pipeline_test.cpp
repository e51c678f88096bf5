// End to end through the library: generated clips with known content, models built in LibTorch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "preprocess/cpu_preprocessor.h"
#include "support.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"
#include "vidinfer/probe.h"

namespace vidinfer {
namespace {

// 128x96, 25 fps: 1 s red, 1 s green, 1 s blue = 75 frames.
std::string rgb_clip() {
  return test::clip("rgb-segments", "mp4",
                    "-f lavfi -i color=red:s=128x96:r=25:d=1 -f lavfi -i color=lime:s=128x96:r=25:d=1 "
                    "-f lavfi -i color=blue:s=128x96:r=25:d=1 -filter_complex concat=n=3:v=1:a=0 "
                    "-c:v libx264 -preset ultrafast -bf 2 -pix_fmt yuv420p");
}

// 320x180, 25 fps, 50 frames: a 40x40 white square on black at x = 20 + 4n, y = 70.
std::string square_clip() {
  return test::clip("moving-square", "mp4",
                    "-f lavfi -i \"color=black:s=320x180:r=25:d=2,format=yuv420p,"
                    "geq=lum='if(between(X,20+4*N,59+4*N)*between(Y,70,109),235,16)':cb=128:cr=128\" "
                    "-c:v libx264 -preset ultrafast -crf 12 -pix_fmt yuv420p");
}

struct Collected {
  std::vector<FrameResult> frames;
  RunSummary summary;
};

// first_inputs: the inputs given to the pipeline's constructor as well (see Pipeline).
Collected run(const RunOptions& opt, const std::vector<std::string>& inputs, bool first_inputs = false) {
  Pipeline p(opt, first_inputs ? inputs : std::vector<std::string>{});
  Collected c;
  c.summary = p.run(inputs, [&](const FrameResult& r) { c.frames.push_back(r); });
  return c;
}

RunOptions classify_options(const std::string& model) {
  RunOptions o = test::channel_mean_options(model, 32, 8);
  o.device = Device::cpu();
  return o;
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

class PipelineTest : public ::testing::Test {
 protected:
  test::TempDir dir;
};

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

// Also with the inputs given to the constructor before the run (which looks at them to make their
// NVDEC sessions on the GPU path, and must leave the reporting to the run).
TEST_F(PipelineTest, BadInputsAreReportedAndTheOthersStillRun) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  test::write_bytes(dir.file("notes.mp4"), std::vector<uint8_t>(1000, 'x'));
  test::write_bytes(dir.file("empty.mkv"), {});
  const std::vector<std::string> inputs = {rgb_clip(), dir.file("missing.mp4"), test::media::audio_only(),
                                           dir.file("notes.mp4"), dir.file("empty.mkv"), test::media::h264_ts()};
  for (bool first_inputs : {false, true}) {
    SCOPED_TRACE(first_inputs ? "inputs given to the constructor" : "inputs given to run() only");
    const auto c = run(classify_options(dir.file("m.pt")), inputs, first_inputs);
    ASSERT_EQ(c.summary.inputs.size(), inputs.size());
    EXPECT_EQ(c.summary.failed_inputs(), 4);
    const auto& in = c.summary.inputs;
    EXPECT_EQ(in[0].status, InputStatus::Ok);
    EXPECT_EQ(in[1].error, dir.file("missing.mp4") + ": cannot open input: file not found");
    EXPECT_EQ(in[2].error, test::media::audio_only() + ": no video stream: the file has audio only");
    EXPECT_EQ(in[3].error, dir.file("notes.mp4") + ": cannot open input: not a recognised media file");
    EXPECT_EQ(in[4].error, dir.file("empty.mkv") + ": cannot open input: empty file (0 bytes)");
    EXPECT_EQ(in[5].status, InputStatus::Ok);
    size_t first = 0, last = 0;
    for (const auto& f : c.frames) {
      first += f.input == inputs[0];
      last += f.input == inputs[5];
    }
    EXPECT_EQ(first, 75u);
    EXPECT_EQ(last, 60u);
  }
}

TEST_F(PipelineTest, TruncatedAndDamagedInputsKeepTheirGoodFrames) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  auto bytes = test::read_bytes(test::media::h264_ts());
  bytes.resize(bytes.size() * 2 / 3 + 100);
  test::write_bytes(dir.file("cut.ts"), bytes);
  const auto c = run(classify_options(dir.file("m.pt")), {dir.file("cut.ts")});
  EXPECT_EQ(c.summary.inputs[0].status, InputStatus::Ok) << c.summary.inputs[0].error;
  EXPECT_GT(c.frames.size(), 20u);
  EXPECT_LT(c.frames.size(), 60u);
}

TEST_F(PipelineTest, ModelOutputThatDoesNotFitFailsEveryInputClearly) {
  test::make_identity_model(dir.file("id.pt"));
  const auto c = run(classify_options(dir.file("id.pt")), {rgb_clip(), test::media::h264_mp4()});
  EXPECT_TRUE(c.frames.empty());
  ASSERT_EQ(c.summary.failed_inputs(), 2);
  for (const auto& in : c.summary.inputs)
    EXPECT_EQ(in.error, dir.file("id.pt") + ": model output does not fit task classify: expected a [8, classes] "
                                            "tensor, got Tensor[8, 3, 32, 32] Float");
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

TEST_F(PipelineTest, ConstructionErrors) {
  RunOptions o = classify_options(dir.file("none.pt"));
  try {
    Pipeline p(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("none.pt") + ": cannot load model: file not found");
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

// --- Model-side failures ---

// 64x48 black, 10 fps, 1 s: any model's output on it is finite.
std::string dark_clip() {
  return test::clip("dark", "mp4", "-f lavfi -i color=black:s=64x48:r=10:d=1 -c:v libx264 -preset ultrafast -pix_fmt yuv420p");
}

TEST_F(PipelineTest, NanInTheModelOutputFailsThatInputOnlyAndNamesTheFrame) {
  // The counter clip's frame i is grey with luma 40 + 4i (limited range), so its value on the 0..1
  // scale is (24 + 4i) / 219: above 0.5 from frame 22 on (0.511; frame 21 is 0.493).
  test::make_nan_above_model(dir.file("m.pt"), 0.5);
  RunOptions o = classify_options(dir.file("m.pt"));
  o.spec.batch = 4;
  const std::string clip = test::media::counter("h264");
  const auto c = run(o, {clip, dark_clip()});
  ASSERT_EQ(c.summary.inputs.size(), 2u);
  EXPECT_EQ(c.summary.inputs[0].status, InputStatus::Failed);
  EXPECT_EQ(c.summary.inputs[0].error, dir.file("m.pt") + ": model output has NaN: at frame 22 of " + clip);
  EXPECT_EQ(c.summary.inputs[0].frames_processed, 22);  // every frame before frame 22
  EXPECT_EQ(c.summary.inputs[1].status, InputStatus::Ok) << c.summary.inputs[1].error;  // the next input runs
  EXPECT_EQ(c.summary.inputs[1].frames_processed, 10);
  ASSERT_EQ(c.frames.size(), 32u);
  EXPECT_EQ(c.frames[21].frame_index, 21);
  for (const auto& f : c.frames)
    for (const auto& k : f.classes) EXPECT_TRUE(std::isfinite(k.score));
  test::make_nan_above_model(dir.file("inf.pt"), 0.5, "inf");
  o.model_path = dir.file("inf.pt");
  const auto inf = run(o, {clip});
  EXPECT_EQ(inf.summary.inputs[0].error, dir.file("inf.pt") + ": model output has Inf: at frame 22 of " + clip);
  test::make_nan_above_model(dir.file("minus-inf.pt"), 0.5, "-inf");  // shows in the output's minimum only
  o.model_path = dir.file("minus-inf.pt");
  const auto minus = run(o, {clip});
  EXPECT_EQ(minus.summary.inputs[0].error, dir.file("minus-inf.pt") + ": model output has Inf: at frame 22 of " + clip);
}

TEST_F(PipelineTest, OutOfMemoryHalvesTheBatchOnceAndSaysSo) {
  test::make_channel_mean_classifier(dir.file("ref.pt"));
  test::make_oom_above_batch_model(dir.file("m.pt"), 4);
  RunOptions o = classify_options(dir.file("m.pt"));
  o.spec.batch = 8;
  const std::string clip = rgb_clip();  // 75 frames: 9 batches of 8 and one of 3
  const auto c = run(o, {clip, clip});
  const auto ref = run(classify_options(dir.file("ref.pt")), {clip, clip});
  ASSERT_EQ(c.summary.inputs.size(), 2u);
  for (const auto& i : c.summary.inputs) {
    EXPECT_EQ(i.status, InputStatus::Ok) << i.error;
    EXPECT_EQ(i.frames_processed, 75);
  }
  EXPECT_EQ(c.summary.inputs[0].warning,
            "model ran out of memory with a batch of 8 frames; batch halved to 4 for the rest of the run "
            "(RuntimeError: AssertionError: CUDA out of memory. Tried to allocate 2.00 GiB (simulated by the test model))");
  EXPECT_EQ(c.summary.inputs[1].warning, "") << "said once, where it happened";
  ASSERT_EQ(c.frames.size(), ref.frames.size());
  for (size_t k = 0; k < c.frames.size(); ++k) {
    EXPECT_EQ(c.frames[k].frame_index, ref.frames[k].frame_index);
    ASSERT_EQ(c.frames[k].classes.size(), 1u);
    EXPECT_EQ(c.frames[k].classes[0].class_id, ref.frames[k].classes[0].class_id);
    EXPECT_FLOAT_EQ(c.frames[k].classes[0].score, ref.frames[k].classes[0].score);
  }
}

TEST_F(PipelineTest, OutOfMemoryAgainAfterHalvingFailsClearly) {
  test::make_oom_above_batch_model(dir.file("m.pt"), 2);
  RunOptions o = classify_options(dir.file("m.pt"));
  o.spec.batch = 8;
  const auto c = run(o, {rgb_clip()});
  ASSERT_EQ(c.summary.inputs.size(), 1u);
  EXPECT_EQ(c.summary.inputs[0].status, InputStatus::Failed);
  EXPECT_EQ(c.summary.inputs[0].error,
            dir.file("m.pt") + ": model ran out of memory: batch of 4 frames after halving the batch from 8 "
                               "(RuntimeError: AssertionError: CUDA out of memory. Tried to allocate 2.00 GiB (simulated by the test model))");
  EXPECT_EQ(c.frames.size(), 0u);
}

TEST_F(PipelineTest, WrongInputSizeFailsWithTheModelsOwnReason) {
  test::make_fixed_size_model(dir.file("m.pt"), 16);
  RunOptions o = classify_options(dir.file("m.pt"));  // 32x32 inputs
  const auto c = run(o, {dark_clip()});
  ASSERT_EQ(c.summary.inputs.size(), 1u);
  EXPECT_EQ(c.summary.inputs[0].status, InputStatus::Failed);
  const std::string& e = c.summary.inputs[0].error;
  EXPECT_EQ(e.rfind(dir.file("m.pt") + ": model forward failed: ", 0), 0u) << e;
  EXPECT_NE(e.find("is invalid for input of size"), std::string::npos) << e;  // LibTorch's reshape error
  EXPECT_EQ(e.find('\n'), std::string::npos);
  o.spec.width = o.spec.height = 16;  // the size it takes: it runs
  EXPECT_EQ(run(o, {dark_clip()}).summary.inputs[0].status, InputStatus::Ok);
}

// The fuzzer's seed clips (fuzz/corpus/) and the inputs it once crashed on (fuzz/regressions/, kept
// there when a crash is fixed) through the normal CPU path: the seeds decode to every frame ffprobe
// sees; a crash input gives a clear outcome, never a crash (the sanitizer build runs this too).
TEST_F(PipelineTest, FuzzCorpusAndCrashInputsGiveAClearOutcome) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  const RunOptions o = classify_options(dir.file("m.pt"));
  int seeds = 0;
  for (const char* sub : {"corpus", "regressions"}) {
    const std::filesystem::path folder = std::filesystem::path(VIDINFER_SOURCE_DIR) / "fuzz" / sub;
    if (!std::filesystem::is_directory(folder)) continue;
    for (const auto& e : std::filesystem::directory_iterator(folder)) {
      const std::string path = e.path().string();
      if (std::string(sub) == "corpus") {
        // A seed this FFmpeg cannot decode at all (the GPU machine's kit decodes AV1 only through
        // NVDEC) has no reference count: skip it, saying so.
        const std::string n = test::sh("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                                       "stream=nb_read_frames -of csv=p=0 " + test::q(path));
        if (n.empty() || !std::isdigit(static_cast<unsigned char>(n[0])) || std::stoll(n) == 0) {
          std::printf("seed %s: this FFmpeg decodes no frame of it; skipped\n", path.c_str());
          continue;
        }
      }
      const auto c = run(o, {path});
      ASSERT_EQ(c.summary.inputs.size(), 1u);
      const InputSummary& i = c.summary.inputs[0];
      if (std::string(sub) == "corpus") {
        ++seeds;
        EXPECT_EQ(i.status, InputStatus::Ok) << path << ": " << i.error;
        const std::string count = test::sh("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                                           "stream=nb_read_frames -of csv=p=0 " + test::q(path));
        EXPECT_EQ(i.frames_decoded, std::stoll(count)) << path;
        EXPECT_EQ(i.frames_processed, i.frames_decoded) << path;
      } else {
        if (i.status == InputStatus::Failed) {
          EXPECT_EQ(i.error.rfind(path + ": ", 0), 0u) << i.error;
          EXPECT_EQ(i.error.find('\n'), std::string::npos) << i.error;
        }
        try {  // probe reads the same stream facts (colour tags included)
          (void)probe(path);
        } catch (const Error& e) {
          EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
        }
      }
    }
  }
  EXPECT_GE(seeds, 5);
}

// ---- Concurrency: many inputs at once, one input in segments ----------------------------------

// 100 frames at 25 fps, 64x64, lossless, frame i grey with luma 16 + 2i: the channel-mean model's
// score of a frame says which frame it is. Keyframes every 10 frames, with B-frames; `open_gop`
// makes the keyframes open (pictures after one in decode order that come before it on screen
// reference the GOP before: the case a segment must decode past its end for).
std::string long_counter(const std::string& codec, bool open_gop) {
  const std::string src = "-f lavfi -i color=c=black:size=64x64:rate=25:duration=4,"
                          "geq=lum='16+2*N':cb=128:cr=128,format=yuv420p ";
  if (codec == "hevc")
    return test::clip(std::string("long-counter-hevc") + (open_gop ? "-open" : ""), "mkv",
                      src + "-c:v libx265 -preset ultrafast -x265-params lossless=1:bframes=3:keyint=10:min-keyint=10:"
                            "scenecut=0:log-level=error:open-gop=" + (open_gop ? "1" : "0"));
  return test::clip(std::string("long-counter-h264") + (open_gop ? "-open" : ""), "mp4",
                    src + "-c:v libx264 -preset ultrafast -qp 0 -bf 2 -g 10 -keyint_min 10 -sc_threshold 0" +
                        (open_gop ? " -x264-params open-gop=1" : ""));
}

// Each input's results in the order they were delivered.
std::map<std::string, std::vector<FrameResult>> by_input(const std::vector<FrameResult>& frames) {
  std::map<std::string, std::vector<FrameResult>> out;
  for (const auto& f : frames) out[f.input].push_back(f);
  return out;
}

void expect_same_results(const Collected& a, const Collected& b) {
  const auto x = by_input(a.frames), y = by_input(b.frames);
  ASSERT_EQ(x.size(), y.size());
  for (const auto& [input, fx] : x) {
    const auto& fy = y.at(input);
    ASSERT_EQ(fx.size(), fy.size()) << input;
    for (size_t i = 0; i < fx.size(); ++i) {
      EXPECT_EQ(fx[i].frame_index, fy[i].frame_index) << input << " #" << i;
      EXPECT_NEAR(fx[i].pts, fy[i].pts, 1e-9) << input << " #" << i;
      ASSERT_EQ(fx[i].classes.size(), fy[i].classes.size());
      for (size_t k = 0; k < fx[i].classes.size(); ++k) {
        EXPECT_EQ(fx[i].classes[k].class_id, fy[i].classes[k].class_id) << input << " #" << i;
        EXPECT_NEAR(fx[i].classes[k].score, fy[i].classes[k].score, 1e-5) << input << " #" << i;
      }
    }
  }
  ASSERT_EQ(a.summary.inputs.size(), b.summary.inputs.size());
  for (size_t i = 0; i < a.summary.inputs.size(); ++i) {
    EXPECT_EQ(a.summary.inputs[i].status, b.summary.inputs[i].status) << a.summary.inputs[i].input;
    EXPECT_EQ(a.summary.inputs[i].error, b.summary.inputs[i].error);
    EXPECT_EQ(a.summary.inputs[i].frames_decoded, b.summary.inputs[i].frames_decoded) << a.summary.inputs[i].input;
    EXPECT_EQ(a.summary.inputs[i].frames_processed, b.summary.inputs[i].frames_processed) << a.summary.inputs[i].input;
  }
  EXPECT_EQ(a.summary.frames, b.summary.frames);
}

TEST_F(PipelineTest, ManyInputsAtOnceGiveTheSameResultsAsOneAfterAnother) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  test::write_bytes(dir.file("notes.mp4"), std::vector<uint8_t>(1000, 'x'));
  const std::vector<std::string> inputs = {rgb_clip(), test::media::counter("h264"), dir.file("notes.mp4"),
                                           test::media::counter("hevc"), long_counter("h264", false),
                                           test::media::h264_ts(), test::media::hevc10_mkv()};
  RunOptions o = classify_options(dir.file("m.pt"));
  o.spec.batch = 7;  // batches straddle inputs
  o.streams = 1;
  const auto one = run(o, inputs);
  EXPECT_EQ(one.summary.failed_inputs(), 1);
  for (int streams : {3, 7}) {
    o.streams = streams;
    const auto many = run(o, inputs);
    SCOPED_TRACE("streams " + std::to_string(streams));
    expect_same_results(many, one);
    // Frames of several inputs were in flight together: results of different inputs interleave.
    if (streams == 7) {
      std::set<std::string> seen;
      bool interleaved = false;
      for (size_t i = 1; i < many.frames.size(); ++i)
        if (many.frames[i].input != many.frames[i - 1].input) interleaved |= !seen.insert(many.frames[i - 1].input).second;
      (void)interleaved;  // depends on the scheduler; the order within each input is what is promised
    }
  }
}

// The segments of one input are decoded at once, one per worker (read from the trace lines, Tuning::trace:
// when each job started, and how long it took). Regression: the workers that found no input left
// while the first was being planned used to stop, leaving every segment to one worker.
TEST_F(PipelineTest, SegmentsOfOneInputAreDecodedAtOnce) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  RunOptions o = classify_options(dir.file("m.pt"));
  o.streams = 4;
  o.segments = 4;
  const std::string clip = long_counter("h264", false);
  o.tuning.trace = 1;
  testing::internal::CaptureStderr();
  const auto r = run(o, {clip});
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_EQ(r.frames.size(), 100u);
  std::vector<std::pair<double, double>> jobs;  // [start, end) in ms from the run's start
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    double start = 0, finished = 0;
    const size_t at = line.find("/4]: started at ");
    if (at == std::string::npos) continue;
    ASSERT_EQ(std::sscanf(line.c_str() + at, "/4]: started at %lf ms;", &start), 1) << line;
    ASSERT_EQ(std::sscanf(line.c_str() + line.find("finished "), "finished %lf ms", &finished), 1) << line;
    jobs.emplace_back(start, start + finished);
  }
  ASSERT_EQ(jobs.size(), 4u) << err;
  int overlapping = 0;
  for (size_t i = 0; i < jobs.size(); ++i)
    for (size_t j = i + 1; j < jobs.size(); ++j)
      overlapping += jobs[i].first < jobs[j].second && jobs[j].first < jobs[i].second;
  EXPECT_GE(overlapping, 1) << err;
}

TEST_F(PipelineTest, SegmentsOfOneInputComeBackInFrameOrder) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  for (const auto& codec : {"h264", "hevc"})
    for (bool open_gop : {false, true}) {
      const std::string clip = long_counter(codec, open_gop);
      SCOPED_TRACE(clip);
      const auto ref = test::ffprobe_frames(clip);
      ASSERT_EQ(ref.size(), 100u);
      RunOptions o = classify_options(dir.file("m.pt"));
      o.spec.batch = 6;
      o.streams = 1;
      o.segments = 1;
      const auto whole = run(o, {clip});
      ASSERT_EQ(whole.frames.size(), 100u);
      for (size_t i = 0; i < 100; ++i) {
        EXPECT_EQ(whole.frames[i].frame_index, static_cast<int64_t>(i));
        EXPECT_NEAR(whole.frames[i].pts, ref[i].pts, 1e-6);
        // Grey with luma 16 + 2i: every channel (0..1) is about 2i / 219.
        EXPECT_NEAR(whole.frames[i].classes[0].score, 2.0 * i / 219, 0.01) << "frame " << i;
      }
      for (int segments : {2, 4, 9}) {
        o.streams = 4;
        o.segments = segments;
        const auto seg = run(o, {clip});
        SCOPED_TRACE("segments " + std::to_string(segments));
        expect_same_results(seg, whole);
        ASSERT_EQ(seg.summary.inputs.size(), 1u);
        EXPECT_NE(seg.summary.inputs[0].decoder.find(std::to_string(segments) + " segments decoded at once"),
                  std::string::npos)
            << seg.summary.inputs[0].decoder;
      }
    }
}

// A NaN in a segmented input: the frame is named by its input-wide index when the segments before it
// are in, else by its time (frame 60 of the 100-frame counter clip), never by an index within its
// segment.
TEST_F(PipelineTest, NanInASegmentNamesTheFrameByIndexOrTime) {
  test::make_nan_above_model(dir.file("late.pt"), 2 * 59.5 / 219);  // frame i is about 2i / 219: i >= 60
  RunOptions o = classify_options(dir.file("late.pt"));
  o.spec.batch = 4;
  o.streams = 4;
  o.segments = 4;
  const std::string long_clip = long_counter("h264", false);
  const double pts60 = test::ffprobe_frames(long_clip).at(60).pts;
  char at[64];
  std::snprintf(at, sizeof at, "at %.3f s", pts60);
  for (int rep = 0; rep < 3; ++rep) {
    const auto seg = run(o, {long_clip});
    const std::string e = seg.summary.inputs.at(0).error;
    EXPECT_TRUE(e == dir.file("late.pt") + ": model output has NaN: at frame 60 of " + long_clip ||
                e == dir.file("late.pt") + ": model output has NaN: " + at + " of " + long_clip)
        << e;
    EXPECT_EQ(seg.summary.inputs.at(0).frames_processed, 60);
  }
}

TEST_F(PipelineTest, SegmentsNeedAnIndexAndAWholeInputSelection) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  RunOptions o = classify_options(dir.file("m.pt"));
  o.streams = 3;
  o.segments = 3;
  // MPEG-TS has no index: decoded whole.
  const auto ts = run(o, {test::media::h264_ts()});
  EXPECT_EQ(ts.summary.inputs[0].decoder.find("segments"), std::string::npos);
  EXPECT_EQ(ts.frames.size(), 60u);
  // --every counts from the input's start: decoded whole, same frames as without segments.
  o.selection.every = 3;
  const auto every = run(o, {long_counter("h264", false)});
  EXPECT_EQ(every.summary.inputs[0].decoder.find("segments"), std::string::npos);
  ASSERT_EQ(every.frames.size(), 34u);
  EXPECT_EQ(every.frames[5].frame_index, 15);
}

TEST_F(PipelineTest, DecodeOnlyCountsEveryFrameAndSendsNoResults) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  RunOptions o = classify_options(dir.file("m.pt"));
  o.skip_preprocess = true;
  o.streams = 2;
  const auto c = run(o, {rgb_clip(), test::media::counter("h264")});
  EXPECT_TRUE(c.frames.empty());
  EXPECT_EQ(c.summary.frames, 125);
  EXPECT_EQ(c.summary.inputs[0].frames_processed, 75);
  EXPECT_EQ(c.summary.inputs[1].frames_processed, 50);
  EXPECT_EQ(c.summary.stages.preprocess, 0);
}

TEST_F(PipelineTest, InvalidConcurrencyOptions) {
  test::make_channel_mean_classifier(dir.file("m.pt"));
  RunOptions o = classify_options(dir.file("m.pt"));
  o.streams = 65;
  EXPECT_THROW(Pipeline p(o), Error);
  o.streams = -1;
  EXPECT_THROW(Pipeline p(o), Error);
  o.streams = 0;
  o.segments = -2;
  EXPECT_THROW(Pipeline p(o), Error);
}

}  // namespace
}  // namespace vidinfer
