// Live inputs, on loopback only and bounded in time: a clip served over RTSP (GStreamer's RTSP server,
// tests/cli/rtsp_server.py; skipped, saying why, where it is not installed), over HTTP (Python's
// http.server), as an HLS playlist over HTTP (ended or growing), sent as MPEG-TS over UDP or SRT in
// real time (Debian's `ffmpeg -re`), or piped to standard input gives the same frames, timestamps and
// values as the clip read as a file (with --live-drop none, so that no frame is dropped), plus each
// frame's receive time and latency. Faults: cli_live_faults_test.cpp; paced files and bench --live:
// cli_live_pacing_test.cpp.
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "cli_live_fixture.h"

namespace vidinfer {
namespace {

using namespace live_test;

TEST_F(CliLive, HttpGivesTheFileResults) {
  const std::string url = serve_http(fs::path(clip_).parent_path().string()) + fs::path(clip_).filename().string();
  const test::Result r = vidinfer_once_served(url);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], url);
  expect_file_results(r);
}

// HLS as a server gives it: the clip cut by Debian's ffmpeg into half-second MPEG-TS segments (stream
// copies) with a playlist that says it has ended, served over HTTP. The input ends with the playlist.
TEST_F(CliLive, HlsPlaylistGivesTheFileResults) {
  if (!ffmpeg_lists("muxers", "hls")) GTEST_SKIP() << "this machine's ffmpeg has no HLS muxer to cut the playlist with";
  const std::string site = dir.file("hls");
  fs::create_directories(site);
  const std::string cut = test::sh("ffmpeg -loglevel error -y -i " + test::q(clip_) +
                                   " -c copy -f hls -hls_time 0.5 -hls_list_size 0 -hls_playlist_type vod "
                                   "-hls_segment_filename " + test::q(site + "/part%03d.ts") + " " +
                                   test::q(site + "/clip.m3u8") + " 2>&1");
  ASSERT_TRUE(fs::exists(site + "/part001.ts")) << "ffmpeg made no HLS segments: " << cut;
  const std::string url = serve_http(site) + "clip.m3u8";
  const test::Result r = vidinfer_once_served(url);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], url);
  expect_file_results(r);
}

// A live HLS playlist: Debian's `ffmpeg -re` writes the clip's segments in real time (one a second, at
// its keyframes) into the served folder, and vidinfer opens the playlist once it exists, before it is
// complete: libavformat reloads it as it grows, and the input ends where the playlist says it has ended.
TEST_F(CliLive, GrowingHlsPlaylistGivesTheFileResults) {
  if (!ffmpeg_lists("muxers", "hls")) GTEST_SKIP() << "this machine's ffmpeg has no HLS muxer to write the playlist with";
  const std::string site = dir.file("hls-live");
  fs::create_directories(site);
  const std::string url = serve_http(site) + "live.m3u8";
  background("exec ffmpeg -loglevel error -re -i " + test::q(clip_) +
             " -c copy -f hls -hls_time 0.5 -hls_list_size 4 -hls_segment_filename " + test::q(site + "/part%03d.ts") +
             " " + test::q(site + "/live.m3u8"));
  const std::string playlist = site + "/live.m3u8";
  for (int i = 0; i < 200 && !fs::exists(playlist); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(playlist)) << "ffmpeg wrote no playlist in 10 s";
  const bool growing = slurp(playlist).find("#EXT-X-ENDLIST") == std::string::npos;
  const test::Result r = vidinfer_once_served(url);
  ASSERT_EQ(r.rc, 0) << r.err;
  if (!growing) std::printf("(the playlist was complete before vidinfer opened it: read as a finished one)\n");
  EXPECT_EQ(r.lines().front()["input"], url);
  expect_file_results(r);
}

// SRT from an encoder that listens (Debian's `ffmpeg -re` in SRT listener mode, sending the clip as
// MPEG-TS in real time); vidinfer calls it. When the sender is done it hangs up, and the input ends
// there (--reconnect 0). SRT's live mode delivers a packet only once its latency window (120 ms by
// default) has passed, and a sender that hangs up takes what is still in that window with it (ffmpeg's
// own SRT reader loses the same last frames): every frame that came equals the file's frame of the same
// timestamp, numbered from 0 without gaps, and only the last window's frames may be missing.
TEST_F(CliLive, SrtStreamGivesTheFileResults) {
  if (!ffmpeg_lists("protocols", "srt"))
    GTEST_SKIP() << "this machine's ffmpeg has no SRT protocol to send with";
  const int port = free_port(SOCK_DGRAM);
  ASSERT_GT(port, 0);
  background("exec ffmpeg -loglevel error -re -i " + test::q(clip_) + " -c copy -f mpegts 'srt://127.0.0.1:" +
             std::to_string(port) + "?mode=listener&pkt_size=1316'");
  test::sh(wait_for_udp_listener(port));  // (the sender's socket is bound: a call now is answered)
  const auto t0 = std::chrono::steady_clock::now();
  const std::string url = "srt://127.0.0.1:" + std::to_string(port);
  const test::Result r = vidinfer(args_ + "--stall-timeout 3 --reconnect 0 " + url);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GE(took, 1.5);  // real time: most of the 2 s clip cannot arrive faster
  std::map<int64_t, nlohmann::json> by_pts;  // the file's frames, by timestamp in frames
  double last_pts = 0;
  for (auto& [f, j] : comparable(file_)) {
    last_pts = std::max(last_pts, j["pts"].get<double>());
    by_pts.emplace(std::llround(j["pts"].get<double>() * 30), j);
  }
  const auto got = comparable(r);
  EXPECT_GE(got.size(), 54u) << r.err;  // 60 less at most the last 0.2 s
  int64_t expect_frame = 0;
  for (auto [f, j] : got) {
    EXPECT_EQ(f, expect_frame++);
    const int64_t at = std::llround(j["pts"].get<double>() * 30);
    ASSERT_TRUE(by_pts.count(at)) << j.dump();
    const nlohmann::json& want = by_pts.at(at);
    j["frame"] = want["frame"];
    EXPECT_TRUE(near(j, want)) << j.dump() << "\n" << want.dump();
    by_pts.erase(at);
  }
  for (const auto& [at, j] : by_pts)
    EXPECT_GE(j["pts"].get<double>(), last_pts - 0.2) << "a frame before the last window is missing: " << j.dump();
  ASSERT_EQ(r.records().size(), 1u);
  EXPECT_EQ(r.records()[0]["input"], url);
  EXPECT_EQ(r.records()[0]["live"]["frames_processed"], static_cast<int64_t>(got.size()));
}

TEST_F(CliLive, StandardInputGivesTheFileResults) {
  const std::string o = dir.file("out"), e = dir.file("err");
  int rc = -1;
  test::sh("cat " + test::q(clip_) + " | " + VIDINFER_BIN + " " + args_ + "- >" + test::q(o) + " 2>" + test::q(e), &rc);
  test::Result r;
  r.rc = rc;
  r.out = slurp(o);
  r.err = slurp(e);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], "-");
  expect_file_results(r);
}

TEST_F(CliLive, UdpStreamInRealTimeGivesTheFileResults) {
  const int port = free_port(SOCK_DGRAM);
  ASSERT_GT(port, 0);
  // The sender starts once vidinfer listens (its model loads first), paced at the clip's frame rate;
  // when it is done, the stream stalls and, with --reconnect 0, the input ends there.
  const std::string send = wait_for_udp_listener(port) + "exec ffmpeg -loglevel error -re -i " + test::q(clip_) +
                           " -c copy -f mpegts udp://127.0.0.1:" + std::to_string(port) + "?pkt_size=1316";
  background(send);
  const auto t0 = std::chrono::steady_clock::now();
  const test::Result r = vidinfer(args_ + "--stall-timeout 3 --reconnect 0 udp://127.0.0.1:" + std::to_string(port));
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GE(took, 2.0);  // real time: the 2 s clip cannot arrive faster
  expect_file_results(r);
  EXPECT_NE(r.err.find("stream lost after frame 60: no data for 3 s (stalled)"), std::string::npos) << r.err;
}

TEST_F(CliLive, RtspGivesTheFileResults) {
  std::string why;
  const std::string url = start_rtsp_server(free_port(SOCK_STREAM), &why);
  if (url.empty()) GTEST_SKIP() << why;
  // The stream ends with the clip: with --reconnect 0, so does the input.
  const test::Result r = vidinfer(args_ + "--reconnect 0 " + url);
  ASSERT_EQ(r.rc, 0) << r.err;
  // RTP carries its own clock: the timestamps differ from the file's; frames and values do not.
  auto want = comparable(file_), got = comparable(r);
  for (auto* m : {&want, &got})
    for (auto& [f, j] : *m) j.erase("pts");
  expect_same_frames(got, want);
  ASSERT_EQ(r.records().size(), 1u);
  EXPECT_EQ(r.records()[0]["live"]["frames_received"], 60);
}

}  // namespace
}  // namespace vidinfer
