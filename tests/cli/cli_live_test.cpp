// Live inputs, on loopback only and bounded in time: a clip served over RTSP (GStreamer's RTSP server,
// tests/cli/rtsp_server.py; skipped, saying why, where it is not installed), over HTTP (Python's
// http.server), as an HLS playlist over HTTP (ended or growing), sent as MPEG-TS over UDP or SRT in
// real time (Debian's `ffmpeg -re`), or piped to standard input gives the same frames, timestamps and
// values as the clip read as a file (with --live-drop none, so that no frame is dropped), plus each
// frame's receive time and latency. A recording over HTTP or a pipe (an MP4, a finished HLS playlist:
// they state their length) is read as its file is, every frame, with the live defaults. `probe` of a
// live stream describes it without counting its frames. Faults: cli_live_faults_test.cpp; paced files and bench --live:
// cli_live_pacing_test.cpp.
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>
#include <utility>

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

// A recorded file on a web server (an MP4, which states its length) is a recording, not a camera:
// read as the local file is, every frame, whatever the model's pace. (Read as live, the bundled
// detector on the CPU kept 3 of 15 frames of a 6 s clip.) An MP4 whose index is at its end needs a
// server that sends parts of a file (HTTP ranges); Python's http.server does not, and that input
// fails at once with a one-line error instead of being opened again and again.
TEST_F(CliLive, Mp4OverHttpIsReadAsARecording) {
  fs::create_directories(dir.file("site"));
  const std::string site = dir.file("site");
  clip_as_mp4("site/clip.mp4");
  clip_as_mp4("site/late.mp4", "");
  const test::Result file = vidinfer(args_ + test::q(site + "/clip.mp4"));
  ASSERT_EQ(file.rc, 0) << file.err;
  ASSERT_EQ(file.lines().size(), 60u);
  const std::string url = serve_http(site);
  const test::Result r = vidinfer_once_served(url + "clip.mp4", recording_args());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], url + "clip.mp4");
  expect_recording_results(r, file);

  const auto t0 = std::chrono::steady_clock::now();
  const test::Result late = vidinfer(recording_args() + url + "late.mp4");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  EXPECT_EQ(late.rc, 1) << late.err;
  EXPECT_TRUE(late.lines().empty());
  EXPECT_NE(late.err.find("vidinfer: error: " + url + "late.mp4: "), std::string::npos) << late.err;
  EXPECT_EQ(late.err.find("reconnecting"), std::string::npos) << late.err;

  // A server that refuses the connection is told at once, not retried until the open deadline (60 s
  // with this stall timeout; the bound leaves room for a slow start, under sanitizers).
  const std::string refused = "http://127.0.0.1:" + std::to_string(free_port(SOCK_STREAM)) + "/clip.mp4";
  const auto t1 = std::chrono::steady_clock::now();
  const test::Result no = vidinfer(recording_args() + "--stall-timeout 30 " + refused);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 30.0);
  EXPECT_EQ(no.rc, 1);
  EXPECT_EQ(no.err, "vidinfer: error: " + refused + ": cannot open input: Connection refused\n");
}

// A recording on a server whose every transfer breaks a third of the way in: where the server takes
// range requests (web servers and object stores do), each break is resumed where it was, and every
// frame comes; where it does not, the input ends at the break with a warning, its frames before it
// kept (as a truncated file's are).
TEST_F(CliLive, ARecordingWhoseTransfersBreakIsResumedWhereTheyBroke) {
  const std::string mp4 = clip_as_mp4("clip.mp4");
  const test::Result file = vidinfer(args_ + test::q(mp4));
  ASSERT_EQ(file.rc, 0) << file.err;
  ASSERT_EQ(file.lines().size(), 60u);
  const size_t third = slurp(mp4).size() / 3;
  for (const bool ranges : {true, false}) {
    SCOPED_TRACE(ranges ? "ranges" : "no ranges");
    const std::string server = serve_cut(mp4, third, ranges);
    ASSERT_FALSE(server.empty());
    const std::string url = server + "clip.mp4";
    const test::Result r = vidinfer(recording_args() + url);
    ASSERT_EQ(r.rc, 0) << r.err;
    if (ranges) {
      expect_recording_results(r, file);
      EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
      continue;
    }
    const auto got = comparable(r), want = comparable(file);
    EXPECT_GT(got.size(), 0u);
    EXPECT_LT(got.size(), 60u);
    // (The last frame's packet was cut by the break: decoded as far as it came, as a truncated file's.)
    for (const auto& [frame, j] : got) {
      if (frame + 1 == static_cast<int64_t>(got.size())) continue;
      EXPECT_TRUE(near(j, want.at(frame))) << j.dump();
    }
    EXPECT_NE(r.err.find("vidinfer: warning: " + url + ": read error after frame " + std::to_string(got.size()) +
                         ": Input/output error (connection lost, or the recording is truncated; frames before it were kept)"),
              std::string::npos)
        << r.err;
  }
}

// HLS as a server gives it: the clip cut by Debian's ffmpeg into half-second MPEG-TS segments (stream
// copies) with a playlist that says it has ended, served over HTTP. A finished playlist states its
// length: it is a recording, read as the clip's file is (every frame, with the live defaults).
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
  const test::Result r = vidinfer_once_served(url, recording_args());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], url);
  expect_recording_results(r, file_);
}

// A live HLS playlist: Debian's `ffmpeg` writes the clip's segments at a quarter of real time (one
// every 4 s, at its keyframes) into the served folder, and vidinfer opens the playlist once it exists,
// before it is complete: libavformat reloads it as it grows, and the input ends where the playlist says
// it has ended. A growing playlist states no length: the input is live. (Should the playlist have
// ended before vidinfer opened it, on a slow machine, it was a recording by then, and is read as one.)
TEST_F(CliLive, GrowingHlsPlaylistGivesTheFileResults) {
  if (!ffmpeg_lists("muxers", "hls")) GTEST_SKIP() << "this machine's ffmpeg has no HLS muxer to write the playlist with";
  const std::string site = dir.file("hls-live");
  fs::create_directories(site);
  const std::string url = serve_http(site) + "live.m3u8";
  background("exec ffmpeg -loglevel error -readrate 0.25 -i " + test::q(clip_) +
             " -c copy -f hls -hls_time 0.5 -hls_list_size 4 -hls_segment_filename " + test::q(site + "/part%03d.ts") +
             " " + test::q(site + "/live.m3u8"));
  const std::string playlist = site + "/live.m3u8";
  for (int i = 0; i < 200 && !fs::exists(playlist); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(playlist)) << "ffmpeg wrote no playlist in 10 s";
  const test::Result r = vidinfer_once_served(url);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], url);
  if (r.lines().front().contains("received")) {
    expect_file_results(r);
  } else {
    std::printf("(the playlist had ended before vidinfer opened it: read as a recording)\n");
    expect_recording_results(r, file_);
  }
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

// An MP4 piped in states its length (its index comes first): a recording, every frame read. MPEG-TS
// piped in (above) states none and is live, as an encoder's output is.
TEST_F(CliLive, StandardInputOfAnMp4IsARecording) {
  const std::string mp4 = clip_as_mp4("clip.mp4");
  const test::Result file = vidinfer(args_ + test::q(mp4));
  ASSERT_EQ(file.rc, 0) << file.err;
  ASSERT_EQ(file.lines().size(), 60u);
  const std::string o = dir.file("out"), e = dir.file("err");
  test::Result r;
  test::sh("cat " + test::q(mp4) + " | " + VIDINFER_BIN + " " + recording_args() + "- >" + test::q(o) + " 2>" + test::q(e),
           &r.rc);
  r.out = slurp(o);
  r.err = slurp(e);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.lines().front()["input"], "-");
  expect_recording_results(r, file);
}

// `vidinfer probe` takes what `run` takes. A live stream (MPEG-TS over UDP, sent in a loop for as long
// as the test runs) is described from its first seconds, its frames not counted: probe returns, where
// counting the packets never would. An MP4 piped in states its length, and its count is the
// container's. A UDP port nobody sends to fails after the stall timeout, alone.
TEST_F(CliLive, ProbeDescribesALiveStreamWithoutCountingItsFrames) {
  const int port = free_port(SOCK_DGRAM), quiet = free_port(SOCK_DGRAM);
  ASSERT_GT(port, 0);
  ASSERT_GT(quiet, 0);
  const std::string udp = "udp://127.0.0.1:" + std::to_string(port), silent = "udp://127.0.0.1:" + std::to_string(quiet);
  background(wait_for_udp_listener(port) + "exec ffmpeg -loglevel error -re -stream_loop -1 -i " + test::q(clip_) +
             " -c copy -f mpegts " + udp + "?pkt_size=1316");
  const auto t0 = std::chrono::steady_clock::now();
  const test::Result r = vidinfer("probe --json " + udp + " " + silent);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 40.0);
  EXPECT_EQ(r.rc, 1) << r.err;
  const auto lines = r.lines();
  ASSERT_EQ(lines.size(), 1u) << r.out << r.err;
  const auto& p = lines[0];
  EXPECT_EQ(p["input"], udp);
  EXPECT_EQ(p["container"], "mpegts");
  EXPECT_EQ(p["codec"], "h264");
  EXPECT_EQ(p["width"], file_.lines()[0]["width"]);
  EXPECT_EQ(p["live"], true);
  EXPECT_TRUE(p["frame_count"].is_null()) << p.dump();
  EXPECT_TRUE(p["frame_count_source"].is_null()) << p.dump();
  EXPECT_EQ(r.err, "vidinfer: error: " + silent + ": cannot open input: no answer within the stall timeout\n");

  const std::string mp4 = clip_as_mp4("clip.mp4");
  const std::string o = dir.file("probe-out");
  int rc = -1;
  test::sh("cat " + test::q(mp4) + " | " + VIDINFER_BIN + " probe --json - >" + test::q(o), &rc);
  EXPECT_EQ(rc, 0);
  const auto piped = nlohmann::json::parse(slurp(o));
  EXPECT_EQ(piped["live"], false);
  EXPECT_EQ(piped["frame_count"], 60);
  EXPECT_EQ(piped["frame_count_source"], "container");
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
