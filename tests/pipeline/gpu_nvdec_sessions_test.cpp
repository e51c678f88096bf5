// NVDEC sessions on the GPU path that outlive a decoder: sessions kept between inputs and sessions
// made while the model loads serve later decoders, which give the same pictures as on sessions of
// their own (run on a machine with an NVIDIA GPU; every test skips with the reason elsewhere).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "decode/decoder.h"
#include "gpu_support.h"
#include "support.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

using test::gpu::colour_namer;
using test::gpu::run;
using test::gpu::Runs;
using test::gpu::sample;

// NVDEC sessions kept between inputs (NvdecSessionKeeper): later inputs of the same format take the
// session an earlier one left, and decode the same pictures as on a session of their own. A and B
// are different pictures of one format (H.264 4:2:0, 320x240, the same reference count), so any
// input may take any kept session; the first input of a run always has a new one (the sessions
// kept by an earlier pipeline went with it). Each input is its own copy of A or B (results are told
// apart by path).
TEST(GpuPipeline, KeptNvdecSessionsServeLaterInputsWithTheSamePictures) {
  const std::string a = test::clip("keep-a", "mp4", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const std::string b = test::clip("keep-b", "mp4", "-f lavfi -i mandelbrot=size=320x240:rate=30 -t 2 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  REQUIRE_GPU();
  test::TempDir dir;
  std::vector<std::string> inputs;
  for (int i = 0; i < 12; ++i) {
    inputs.push_back(dir.file("in" + std::to_string(i) + ".mp4"));
    std::filesystem::copy_file(i % 2 ? b : a, inputs.back());
  }
  RunOptions o = colour_namer();
  o.topk = 3;
  o.segments = 1;
  for (int streams : {1, 3}) {
    SCOPED_TRACE("streams " + std::to_string(streams));
    o.streams = streams;
    const NvdecSessionCounts before = nvdec_session_counts();
    const auto r = run(o, "cuda", inputs);
    const NvdecSessionCounts after = nvdec_session_counts();
    const int64_t created = after.created - before.created, reused = after.reused - before.reused;
    std::printf("[ sessions ] %d stream(s), 12 inputs: %lld created, %lld kept sessions taken\n", streams,
                static_cast<long long>(created), static_cast<long long>(reused));
    EXPECT_EQ(created + reused, 12);
    EXPECT_GE(reused, 12 - 2 * streams);  // only the first inputs of each stream may start before one is left
    std::map<std::string, std::vector<const FrameResult*>> by_input;
    for (const auto& f : r.frames) by_input[f.input].push_back(&f);
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(r.summary.inputs[i].status, InputStatus::Ok) << r.summary.inputs[i].error;
      const auto& got = by_input[inputs[i]];
      const auto& want = by_input[inputs[i % 2]];  // the first input of the same clip: a new session
      ASSERT_EQ(got.size(), 60u) << inputs[i];
      if (i < 2) continue;
      for (size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k]->frame_index, want[k]->frame_index) << inputs[i];
        ASSERT_EQ(got[k]->classes.size(), want[k]->classes.size());
        for (size_t c = 0; c < want[k]->classes.size(); ++c) {
          EXPECT_EQ(got[k]->classes[c].class_id, want[k]->classes[c].class_id) << inputs[i] << " frame " << k;
          EXPECT_EQ(got[k]->classes[c].score, want[k]->classes[c].score) << inputs[i] << " frame " << k;
        }
      }
    }
  }
}

// NVDEC sessions made while the model loads (Pipeline's first_inputs): one for each of the first
// `streams` inputs that NVDEC takes, none for an input that does not open or that NVDEC does not take
// (4:4:4); the run's first decoders take them, and every result is the same as with sessions made in
// the run. One input split into segments gets one per stream.
TEST(GpuPipeline, SessionsMadeWhileTheModelLoadsServeTheRun) {
  const std::string a = test::clip("keep-a", "mp4", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const std::string b = test::clip("keep-b", "mp4", "-f lavfi -i mandelbrot=size=320x240:rate=30 -t 2 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const std::string yuv444 = test::clip("h264-444", "mp4", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=1 "
                                        "-c:v libx264 -preset ultrafast -pix_fmt yuv444p");
  const std::string looped = test::clip("sample-looped-gop30", "mp4", "-stream_loop 2 -i " + test::q(sample()) +
                                        " -vf scale=320:-2 -c:v libx264 -preset ultrafast -g 30 -bf 2 -pix_fmt yuv420p");
  REQUIRE_GPU();
  test::TempDir dir;
  const auto copy = [&](const std::string& from, const std::string& name) {
    std::filesystem::copy_file(from, dir.file(name));
    return dir.file(name);
  };
  // The first 4: a, a missing file, b and the 4:4:4 clip: two sessions to make.
  const std::vector<std::string> inputs = {copy(a, "a0.mp4"), dir.file("missing.mp4"), copy(b, "b1.mp4"),
                                           yuv444, copy(a, "a2.mp4"), copy(b, "b3.mp4")};
  RunOptions o = colour_namer();
  o.topk = 3;
  o.streams = 4;
  o.segments = 1;
  o.device = Device::cuda();
  const auto want = run(o, "cuda", inputs);  // without: every session made in the run
  const auto made_then_run = [&](const RunOptions& opt, const std::vector<std::string>& ins, int64_t* made,
                                 int64_t* taken) {
    const NvdecSessionCounts before = nvdec_session_counts();
    Pipeline p(opt, ins);
    p.run({}, [](const FrameResult&) {});  // a run waits for them
    const NvdecSessionCounts mid = nvdec_session_counts();
    Runs r;
    r.summary = p.run(ins, [&](const FrameResult& f) { r.frames.push_back(f); });
    const NvdecSessionCounts after = nvdec_session_counts();
    *made = mid.created - before.created;
    EXPECT_EQ(mid.reused, before.reused);
    *taken = after.reused - mid.reused;
    std::printf("[ sessions ] %zu input(s), %d streams: %lld made before the run; in it %lld made, %lld taken\n",
                ins.size(), opt.streams, static_cast<long long>(*made),
                static_cast<long long>(after.created - mid.created), static_cast<long long>(*taken));
    return r;
  };
  int64_t made = 0, taken = 0;
  const Runs got = made_then_run(o, inputs, &made, &taken);
  EXPECT_EQ(made, 2);
  EXPECT_GE(taken, 2);
  ASSERT_EQ(got.summary.inputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(got.summary.inputs[i].status, want.summary.inputs[i].status) << inputs[i];
    EXPECT_EQ(got.summary.inputs[i].frames_decoded, want.summary.inputs[i].frames_decoded) << inputs[i];
  }
  EXPECT_EQ(got.summary.inputs[1].status, InputStatus::Failed);
  EXPECT_NE(got.summary.inputs[3].decoder.find("GPU decoder not used"), std::string::npos)
      << got.summary.inputs[3].decoder;
  std::map<std::string, std::vector<const FrameResult*>> by_input;
  for (const auto& f : got.frames) by_input[f.input].push_back(&f);
  size_t compared = 0;
  for (const auto& f : want.frames) {
    auto& list = by_input[f.input];
    const size_t k = static_cast<size_t>(std::count_if(want.frames.data(), &f, [&](const FrameResult& g) { return g.input == f.input; }));
    ASSERT_LT(k, list.size()) << f.input;
    const FrameResult& g = *list[k];
    ASSERT_EQ(g.frame_index, f.frame_index) << f.input;
    ASSERT_EQ(g.classes.size(), f.classes.size());
    for (size_t c = 0; c < f.classes.size(); ++c) {
      EXPECT_EQ(g.classes[c].class_id, f.classes[c].class_id) << f.input << " frame " << f.frame_index;
      EXPECT_EQ(g.classes[c].score, f.classes[c].score) << f.input << " frame " << f.frame_index;
    }
    ++compared;
  }
  EXPECT_EQ(compared, got.frames.size());
  EXPECT_EQ(compared, 5u * 60 - 30);  // a, b, a, b: 60 frames each; the 4:4:4 clip 30 (one input failed)

  // One input in 3 segments on 3 streams: 3 sessions, all taken by its segments' decoders.
  o.streams = 3;
  o.segments = 3;
  const Runs one = made_then_run(o, {looped}, &made, &taken);
  EXPECT_EQ(made, 3);
  EXPECT_EQ(taken, 3);
  EXPECT_EQ(one.summary.inputs[0].status, InputStatus::Ok) << one.summary.inputs[0].error;
  EXPECT_NE(one.summary.inputs[0].decoder.find("segments decoded at once"), std::string::npos)
      << one.summary.inputs[0].decoder;
}

// Paced files (live cameras, all starting at once, each on a worker of its own): every one's session
// is made before the run, however many there are (more than the 64 kept sessions, more than
// --streams), and the run makes none, so that no camera's first frames wait for the driver to make
// the sessions of those before it (45-90 ms each, one at a time).
TEST(GpuPipeline, EveryPacedInputsSessionIsMadeBeforeTheRun) {
  const std::string a = test::clip("keep-a-half", "mp4", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=0.5 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  REQUIRE_GPU();
  test::TempDir dir;
  constexpr int kCameras = 70;
  std::vector<std::string> inputs;
  for (int i = 0; i < kCameras; ++i) {
    inputs.push_back(dir.file("cam" + std::to_string(i) + ".mp4"));
    std::filesystem::copy_file(a, inputs.back());
  }
  RunOptions o = colour_namer();
  o.topk = 1;
  o.streams = 2;
  o.segments = 1;
  o.device = Device::cuda();
  o.live.pace_files = true;
  const NvdecSessionCounts before = nvdec_session_counts();
  Pipeline p(o, inputs);
  p.run({}, [](const FrameResult&) {});  // a run waits for them
  const NvdecSessionCounts mid = nvdec_session_counts();
  std::map<std::string, int> frames;
  double worst = 0;
  const RunSummary s = p.run(inputs, [&](const FrameResult& f) {
    ++frames[f.input];
    worst = std::max(worst, f.latency);
  });
  const NvdecSessionCounts after = nvdec_session_counts();
  std::printf("[ sessions ] %d paced inputs: %lld made before the run; in it %lld made, %lld taken; worst latency %.1f ms\n",
              kCameras, static_cast<long long>(mid.created - before.created),
              static_cast<long long>(after.created - mid.created), static_cast<long long>(after.reused - mid.reused),
              worst * 1e3);
  EXPECT_EQ(mid.created - before.created, kCameras);
  EXPECT_EQ(after.created - mid.created, 0);
  EXPECT_EQ(after.reused - mid.reused, kCameras);
  ASSERT_EQ(s.inputs.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(s.inputs[i].status, InputStatus::Ok) << s.inputs[i].error;
    EXPECT_EQ(frames[inputs[i]], 15) << inputs[i];
  }
}

}  // namespace
}  // namespace vidinfer
