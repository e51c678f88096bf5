// What fails and how it is told: inputs that cannot be read or are damaged, a model whose output
// does not fit the task, a model that cannot be loaded, model-side failures (NaN or Inf in the output,
// out of memory, the wrong input size) and the fuzzer's inputs.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline_support.h"
#include "support.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"
#include "vidinfer/probe.h"

namespace vidinfer {
namespace {

using test::pipeline::classify_options;
using test::pipeline::PipelineTest;
using test::pipeline::rgb_clip;
using test::pipeline::run;

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

TEST_F(PipelineTest, ConstructionErrors) {
  RunOptions o = classify_options(dir.file("none.pt"));
  try {
    Pipeline p(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("none.pt") + ": cannot load model: file not found");
  }
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

}  // namespace
}  // namespace vidinfer
