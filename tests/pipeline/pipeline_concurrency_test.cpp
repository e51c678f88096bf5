// Concurrency: many inputs at once give the same results as one after another, and one input in
// segments comes back in frame order; decode-only runs and the concurrency options' limits.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "pipeline_support.h"
#include "support.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

using test::pipeline::classify_options;
using test::pipeline::Collected;
using test::pipeline::PipelineTest;
using test::pipeline::rgb_clip;
using test::pipeline::run;

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
