// vidinfer bench: looped inputs, every mode over the same frames, the report (table, JSON, chart),
// and its errors. Runs on the CPU here (the GPU machine runs the same with the model on CUDA).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include <torch/cuda.h>

#include "support.h"
#include "vidinfer/bench.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

// 3 s at 30 fps, 160x120: red, then green, then blue, one second each (H.264 with B-frames, GOP 20).
std::string rgb_thirds(const std::string& ext = "mp4") {
  return test::clip("rgb-thirds", ext,
                    "-f lavfi -i color=c=red:s=160x120:r=30:d=1 -f lavfi -i color=c=green:s=160x120:r=30:d=1 "
                    "-f lavfi -i color=c=blue:s=160x120:r=30:d=1 -filter_complex concat=n=3:v=1 "
                    "-c:v libx264 -preset ultrafast -g 20 -bf 2 -pix_fmt yuv420p");
}

RunOptions channel_mean_options(const test::TempDir& dir) {
  RunOptions o;
  o.model_path = dir.file("m.pt");
  test::make_channel_mean_classifier(o.model_path);
  o.task = Task::Classify;
  o.spec.width = o.spec.height = 32;
  o.spec.mean = {0, 0, 0};
  o.spec.std = {1, 1, 1};
  o.spec.batch = 8;
  o.spec.class_activation = Activation::None;
  o.topk = 1;
  o.device = Device::cpu();
  return o;
}

TEST(LoopedVideo, HasTheFramesAskedWithContinuingTimestampsAndTheSameContent) {
  for (const std::string ext : {"mp4", "mkv"}) {
    SCOPED_TRACE(ext);
    test::TempDir dir;
    const std::string src = rgb_thirds(ext);
    const std::string out = dir.file("long." + ext);
    write_looped_video(src, out, 200);  // 2 loops of 90 and 20 frames of the third
    const auto frames = test::ffprobe_frames(out);
    ASSERT_EQ(frames.size(), 200u);
    for (size_t i = 1; i < frames.size(); ++i) EXPECT_NEAR(frames[i].pts - frames[i - 1].pts, 1.0 / 30, 1e-3) << i;
    // The content repeats: frame 90 + i decodes to frame i's pixels.
    const test::Decoded a = test::decode_all(src), b = test::decode_all(out);
    ASSERT_EQ(a.frames.size(), 90u);
    ASSERT_EQ(b.frames.size(), 200u);
    for (size_t i : {0u, 19u, 45u, 89u}) {
      for (size_t loop : {1u, 2u}) {
        const size_t j = loop * 90 + i;
        if (j >= 200) continue;
        const AVFrame* x = a.frames[i].get();
        const AVFrame* y = b.frames[j].get();
        ASSERT_EQ(x->width, y->width);
        EXPECT_EQ(std::memcmp(x->data[0] + x->linesize[0] * 60, y->data[0] + y->linesize[0] * 60, x->width), 0)
            << "frame " << j << " differs from frame " << i;
      }
    }
  }
}

TEST(LoopedVideo, ErrorsNameTheInput) {
  test::TempDir dir;
  std::string e = test::error_of([&] { write_looped_video(dir.file("missing.mp4"), dir.file("o.mp4"), 10); });
  EXPECT_NE(e.find(dir.file("missing.mp4")), std::string::npos) << e;
  e = test::error_of([&] { write_looped_video(rgb_thirds(), dir.file("o.mp4"), 0); });
  EXPECT_NE(e.find("at least 1 frame"), std::string::npos) << e;
  e = test::error_of([&] { write_looped_video(rgb_thirds(), dir.file("no-such-dir/o.mp4"), 10); });
  EXPECT_NE(e.find("no-such-dir/o.mp4"), std::string::npos) << e;
}

TEST(Bench, EveryModeRunsOverTheSameFramesAtEveryLength) {
  test::TempDir dir;
  BenchOptions b;
  b.run = channel_mean_options(dir);
  b.lengths = {50, 130};
  b.command = "bench_test";
  std::vector<std::string> logged;
  const std::string clip = rgb_thirds();
  const BenchReport r = run_bench(b, {clip, clip}, [&](const std::string& l) { logged.push_back(l); });
  ASSERT_EQ(r.rows.size(), 10u);
  EXPECT_EQ(logged.size(), 10u);
  EXPECT_FALSE(r.any_failed());
  EXPECT_EQ(r.inputs, 2u);
  EXPECT_EQ(r.device, "cpu");
  for (const BenchRow& row : r.rows) {
    SCOPED_TRACE(row.mode + " at " + std::to_string(row.length));
    EXPECT_FALSE(row.failed) << row.note;
    EXPECT_EQ(row.frames, 2 * row.length);  // two inputs, each looped to the length
    EXPECT_GT(row.seconds, 0);
    EXPECT_NEAR(row.fps, row.frames / row.seconds, 1e-6 * row.fps);
    EXPECT_GT(row.rss_mib, 10);
    EXPECT_EQ(row.gpu_memory_mib, -1);  // the model is on the CPU
    EXPECT_FALSE(row.stages.empty());
    if (row.mode == "baseline") EXPECT_DOUBLE_EQ(row.speedup, 1.0);
    else EXPECT_GT(row.speedup, 0);
    if (row.mode == "vidinfer") {
      // Both pipelines name the same dominant channel on (nearly) every frame of the red/green/blue clip.
      EXPECT_GE(row.top1_agreement, 0.99);
    } else {
      EXPECT_EQ(row.top1_agreement, -1);
    }
  }
  std::vector<std::string> order;
  for (size_t i = 0; i < 5; ++i) order.push_back(r.rows[i].mode);
  EXPECT_EQ(order, (std::vector<std::string>{"baseline", "vidinfer", "preprocess", "decode", "model"}));
  EXPECT_EQ(r.rows[0].length, 50);
  EXPECT_EQ(r.rows[5].length, 130);

  // The table: a line per row with its mode and frames; the JSON: the same rows.
  const std::string table = bench_table(r);
  EXPECT_NE(table.find("command: bench_test"), std::string::npos) << table;
  EXPECT_NE(table.find("baseline"), std::string::npos);
  EXPECT_NE(table.find("260"), std::string::npos);
  const auto j = nlohmann::json::parse(bench_json(r));
  ASSERT_EQ(j["rows"].size(), 10u);
  EXPECT_EQ(j["rows"][1]["mode"], "vidinfer");
  EXPECT_EQ(j["rows"][1]["frames"], 100);
  EXPECT_TRUE(j["rows"][1]["stages_seconds"].contains("decode"));
  EXPECT_TRUE(j["rows"][0]["stages_seconds"].contains("copy"));
  EXPECT_TRUE(j["rows"][0]["gpu_memory_mib"].is_null());

  // The chart: a PNG that FFmpeg decodes, at the chart's size.
  write_bench_chart(r, dir.file("chart.png"));
  const test::Decoded png = test::decode_all(dir.file("chart.png"));
  ASSERT_EQ(png.frames.size(), 1u);
  EXPECT_EQ(png.frames[0]->width, 1200);
  EXPECT_EQ(png.frames[0]->height, 640);
}

TEST(Bench, AnInputThatFailsMarksItsRowsAndTheOthersRun) {
  test::TempDir dir;
  BenchOptions b;
  b.run = channel_mean_options(dir);
  b.modes = {"baseline", "vidinfer"};
  const std::string missing = dir.file("missing.mp4");
  const BenchReport r = run_bench(b, {rgb_thirds(), missing});
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_TRUE(r.any_failed());
  for (const BenchRow& row : r.rows) {
    SCOPED_TRACE(row.mode);
    EXPECT_TRUE(row.failed);
    EXPECT_NE(row.note.find(missing), std::string::npos) << row.note;
    EXPECT_EQ(row.frames, 90);  // the good input's frames still went through
  }
}

TEST(Bench, BadOptionsAreClearErrors) {
  test::TempDir dir;
  BenchOptions b;
  b.run = channel_mean_options(dir);
  b.modes = {"baseline", "turbo"};
  EXPECT_EQ(test::error_of([&] { run_bench(b, {rgb_thirds()}); }),
            "unknown bench mode 'turbo': expected baseline, vidinfer, preprocess, decode, model or live");
  b.modes = {"baseline"};
  b.lengths = {0};
  EXPECT_EQ(test::error_of([&] { run_bench(b, {rgb_thirds()}); }), "invalid bench length 0: must be at least 1 frame");
  b.lengths = {};
  EXPECT_EQ(test::error_of([&] { run_bench(b, {}); }), "nothing to benchmark: no inputs");
  b.lengths = {10};
  const std::string e = test::error_of([&] { run_bench(b, {dir.file("gone.mkv")}); });
  EXPECT_NE(e.find(dir.file("gone.mkv")), std::string::npos) << e;
}


// On the GPU machine: the baseline copies every frame to the device, vidinfer decodes with NVDEC, both
// agree, and device memory is sampled.
TEST(Bench, OnTheGpuBothPipelinesAgree) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (LibTorch without CUDA, or no GPU/driver)";
  test::TempDir dir;
  BenchOptions b;
  b.run = channel_mean_options(dir);
  b.run.device = Device::cuda();
  b.run.decoder = DecoderChoice::Gpu;
  const std::string clip = rgb_thirds();
  const BenchReport r = run_bench(b, {clip, clip, clip});
  ASSERT_EQ(r.rows.size(), 5u);
  for (const BenchRow& row : r.rows) {
    SCOPED_TRACE(row.mode);
    EXPECT_FALSE(row.failed) << row.note;
    EXPECT_EQ(row.frames, 270);
    EXPECT_GE(row.gpu_memory_mib, 0);
  }
  EXPECT_NE(r.rows[1].note.find("gpu (NVDEC"), std::string::npos) << r.rows[1].note;
  EXPECT_GE(r.rows[1].top1_agreement, 0.99);
  double copy = 0;
  for (const auto& [name, s] : r.rows[0].stages)
    if (name == "copy") copy = s;
  EXPECT_GT(copy, 0);
  std::printf("%s", bench_table(r).c_str());
}

}  // namespace
}  // namespace vidinfer
