// Paced files (--live-pace: a file read as a camera, at its own timestamps), their spread starts
// (--pace-stagger), `vidinfer bench --live N` and the live options' usage errors.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

#include "cli_live_fixture.h"

namespace vidinfer {
namespace {

using namespace live_test;

// A live run's first receive time of each input, and its largest latency.
std::pair<std::map<std::string, double>, double> starts(const test::Result& r) {
  std::map<std::string, double> first;
  double worst = 0;
  for (const auto& j : r.lines()) {
    const std::string in = j["input"].get<std::string>();
    const double t = j["received"].get<double>();
    if (!first.count(in) || t < first[in]) first[in] = t;
    worst = std::max(worst, j["latency_ms"].get<double>());
  }
  return {first, worst};
}

TEST_F(CliLive, PacedFileRunsInRealTimeWithItsLatency) {
  const auto t0 = std::chrono::steady_clock::now();
  const test::Result r = vidinfer(args_ + "--live-pace --summary " + test::q(dir.file("summary.json")) + " " + test::q(clip_));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GE(took, 1.9);
  expect_file_results(r);
  const auto s = nlohmann::json::parse(slurp(dir.file("summary.json")));
  const auto& live = s["inputs"][0]["live"];
  EXPECT_EQ(live["frames_received"], 60);
  EXPECT_EQ(live["reconnects"], 0);
  EXPECT_GE(live["latency_ms"]["p99"].get<double>(), live["latency_ms"]["p50"].get<double>());
  EXPECT_GT(live["latency_ms"]["p50"].get<double>(), 0.0);
}

// Simulated cameras started together send their keyframes at the same instants; --pace-stagger
// spreads their starts (input k at frac(k x 0.618) of it: the second input 0.618 x 2 s = 1.24 s
// late), and the wait is not counted as latency.
TEST_F(CliLive, PaceStaggerSpreadsThePacedFilesStarts) {
  const std::string a = dir.file("a.ts"), b = dir.file("b.ts");
  fs::copy_file(clip_, a);
  fs::copy_file(clip_, b);
  const std::string both = "--streams 2 --live-pace " + test::q(a) + " " + test::q(b);
  const test::Result together = vidinfer(args_ + both);
  const test::Result spread = vidinfer(args_ + "--pace-stagger 2 " + both);
  ASSERT_EQ(together.rc, 0) << together.err;
  ASSERT_EQ(spread.rc, 0) << spread.err;
  ASSERT_EQ(spread.lines().size(), 120u) << spread.err;
  const auto [t_first, t_worst] = starts(together);
  const auto [s_first, s_worst] = starts(spread);
  ASSERT_EQ(t_first.size(), 2u);
  ASSERT_EQ(s_first.size(), 2u);
  EXPECT_LT(std::abs(t_first.at(b) - t_first.at(a)), 0.5);
  EXPECT_NEAR(s_first.at(b) - s_first.at(a), 1.236, 0.4);
  EXPECT_LT(s_worst, 1000.0);  // the 1.24 s wait before b's first packet is not latency
  // Each input's frames are the file's.
  for (const std::string& in : {a, b}) {
    test::Result one = spread;
    one.out.clear();
    for (const auto& j : spread.lines())
      if (j["input"] == in) one.out += j.dump() + "\n";
    expect_same_frames(comparable(one), comparable(file_));
  }
}

// bench/live-latency on a live run's results: its counts are the run's (frames, streams, frames per
// second of the run, frames after each stream's first second) and its maximum is the largest latency
// in the lines; results that are not a live run's are refused with a one-line error naming the file.
TEST_F(CliLive, LiveLatencyScriptSummarisesTheRunsFrames) {
  const std::string a = dir.file("a.ts"), b = dir.file("b.ts"), lines = dir.file("live.jsonl");
  fs::copy_file(clip_, a);
  fs::copy_file(clip_, b);
  const test::Result run = vidinfer(args_ + "--streams 2 --live-pace -o " + test::q(lines) + " " + test::q(a) + " " + test::q(b));
  ASSERT_EQ(run.rc, 0) << run.err;
  test::Result r;
  r.out = slurp(lines);
  const auto frames = r.lines();
  ASSERT_EQ(frames.size(), 120u);
  auto [first, worst] = starts(r);
  int64_t settled = 0;
  for (const auto& j : frames) settled += j["received"].get<double>() - first[j["input"].get<std::string>()] >= 1.0;

  const std::string script = test::q(std::string(VIDINFER_SOURCE_DIR) + "/bench/live-latency");
  int rc = -1;
  const std::string text = test::sh(script + " --settle 1 --gop 30 --json " + test::q(dir.file("l.json")) + " " +
                                    test::q(lines) + " 2>&1", &rc);
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("120 frames of 2 streams"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(slurp(dir.file("l.json")));
  EXPECT_EQ(j["streams"], 2);
  EXPECT_EQ(j["all"]["frames"], 120);
  EXPECT_DOUBLE_EQ(j["all"]["max_ms"].get<double>(), worst);
  EXPECT_LE(j["all"]["p50_ms"].get<double>(), j["all"]["p99_ms"].get<double>());
  EXPECT_LE(j["all"]["p99_ms"].get<double>(), worst);
  EXPECT_EQ(j["settled"]["frames"].get<int64_t>(), settled);
  EXPECT_GT(settled, 0);
  EXPECT_LT(settled, 120);
  int64_t per_second = 0, per_position = 0;
  for (const auto& s : j["by_second"]) per_second += s["frames"].get<int64_t>();
  for (const auto& s : j["by_gop_position"]) per_position += s["frames"].get<int64_t>();
  EXPECT_EQ(per_second, 120);
  EXPECT_EQ(per_position, 120);
  EXPECT_EQ(j["per_stream"].size(), 2u);

  // A file run's results have no receive times.
  std::ofstream(dir.file("file.jsonl")) << file_.out;
  const std::string refused = test::sh(script + " " + test::q(dir.file("file.jsonl")) + " 2>&1", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(refused.find("live-latency: " + dir.file("file.jsonl") + ": no frame lines with a receive time"),
            std::string::npos) << refused;
}

// vidinfer bench --live N: N cameras pacing the clip in real time; the row says how many held it.
TEST_F(CliLive, BenchLiveCountsTheStreamsHeldInRealTime) {
  const std::string json = dir.file("bench.json");
  const std::string bench = "bench -q --task classify " + model() + " --device cpu ";
  const auto t0 = std::chrono::steady_clock::now();
  const test::Result r = vidinfer(bench + "--live 3 --json " + test::q(json) + " " + test::q(clip_));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GE(took, 1.9);  // the cameras send in real time
  EXPECT_NE(r.out.find("live"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(slurp(json));
  ASSERT_EQ(j["rows"].size(), 1u) << j.dump();
  const auto& row = j["rows"][0];
  EXPECT_EQ(row["mode"], "live");
  ASSERT_TRUE(row.contains("live")) << row.dump();
  const auto& live = row["live"];
  EXPECT_EQ(live["streams"], 3);
  const int held = live["realtime_streams"].get<int>();
  EXPECT_GE(held, 0);
  EXPECT_LE(held, 3);
  EXPECT_EQ(held == 3, live["frames_dropped"].get<int64_t>() == 0) << live.dump();
  EXPECT_EQ(row["frames"].get<int64_t>() + live["frames_dropped"].get<int64_t>(), 180) << row.dump();
  EXPECT_GT(live["latency_p50_ms"].get<double>(), 0.0);
  EXPECT_GE(live["latency_p99_ms"].get<double>(), live["latency_p50_ms"].get<double>());
  // All streams' frames together: no more than 1% of them is above every stream's own p99, so their
  // p99 is at most the worst stream's (within the histogram's 2% bins). The clip lasts 2 s, so a
  // second of each stream's frames is left after its first.
  ASSERT_TRUE(live["latency_p99_all_frames_ms"].is_number()) << live.dump();
  ASSERT_TRUE(live["latency_p99_settled_ms"].is_number()) << live.dump();
  EXPECT_GT(live["latency_p99_all_frames_ms"].get<double>(), 0.0);
  EXPECT_LE(live["latency_p99_all_frames_ms"].get<double>(), live["latency_p99_ms"].get<double>() * 1.02);
  EXPECT_GT(live["latency_p99_settled_ms"].get<double>(), 0.0);
  // --live N is --modes live --copies N: not with either.
  EXPECT_EQ(vidinfer(bench + "--live 2 --copies 2 " + test::q(clip_)).rc, 2);
  EXPECT_EQ(vidinfer(bench + "--live 2 --modes vidinfer " + test::q(clip_)).rc, 2);
  EXPECT_EQ(vidinfer(bench + "--live 0 " + test::q(clip_)).rc, 2);
}

TEST_F(CliLive, BadLiveOptionsAreUsageErrors) {
  EXPECT_EQ(vidinfer(args_ + "--live-drop sometimes " + test::q(clip_)).rc, 2);
  const test::Result r = vidinfer(args_ + "--rtsp-transport http " + test::q(clip_));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("invalid --rtsp-transport 'http': expected tcp or udp"), std::string::npos) << r.err;
  const test::Result unpaced = vidinfer(args_ + "--pace-stagger 2 " + test::q(clip_));
  EXPECT_EQ(unpaced.rc, 2);
  EXPECT_NE(unpaced.err.find("--pace-stagger requires --live-pace"), std::string::npos) << unpaced.err;
  EXPECT_EQ(vidinfer(args_ + "--live-pace --pace-stagger -1 " + test::q(clip_)).rc, 2);
}

}  // namespace
}  // namespace vidinfer
