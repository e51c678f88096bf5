// The live-input tests' fixture (CliLive: a clip's file results to compare with, background senders
// and servers killed at the end of each test) and the helpers they share: free loopback ports, shell
// waits for a listener or a client, frame lines compared within a float's last digits, what this
// machine's ffmpeg has, GStreamer's RTSP server. Header-only, as cli_fixture.h is.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.h"
#include "support.h"

namespace vidinfer::live_test {

namespace fs = std::filesystem;

// A port nobody listens on now (the kernel's pick for a socket bound to port 0, then closed).
inline int free_port(int type) {
  const int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// Shell that waits (at most 60 s) until something listens on UDP `port` here: a sender started
// before vidinfer's socket is bound would send into the void (the test machine may be slow to load
// the model), and a sender started by a fixed sleep is a race.
inline std::string wait_for_udp_listener(int port) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04X", port);
  return std::string("for i in $(seq 600); do awk '$2 ~ /:") + hex +
         "$/ {found=1} END {exit !found}' /proc/net/udp /proc/net/udp6 2>/dev/null && break; sleep 0.1; done; ";
}

// Shell that waits (at most 60 s) until a client's TCP connection to `port` here is established.
inline std::string wait_for_tcp_client(int port) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04X", port);
  return std::string("for i in $(seq 600); do awk '$2 ~ /:") + hex +
         "$/ && $4 == \"01\" {found=1} END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null && break; "
         "sleep 0.1; done; ";
}

// Equal JSON, numbers within `tol`: on the GPU a frame's values depend on the batch it went in by a
// float's last digits (a live input's batches are cut by time, a file's by size).
inline bool near(const nlohmann::json& a, const nlohmann::json& b, double tol = 1e-5) {
  if (a.is_number_float() || b.is_number_float())
    return a.is_number() && b.is_number() && std::abs(a.get<double>() - b.get<double>()) <= tol;
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key()) || !near(it.value(), b.at(it.key()), tol)) return false;
    return true;
  }
  if (a.is_array()) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!near(a[i], b[i], tol)) return false;
    return true;
  }
  return a == b;
}

// The same frames, each with the same values (within `near`).
inline void expect_same_frames(const std::map<int64_t, nlohmann::json>& got, const std::map<int64_t, nlohmann::json>& want) {
  EXPECT_EQ(got.size(), want.size());
  for (const auto& [frame, j] : got) {
    ASSERT_TRUE(want.count(frame)) << "frame " << frame;
    EXPECT_TRUE(near(j, want.at(frame))) << j.dump() << "\n" << want.at(frame).dump();
  }
}

// Frame lines without what differs between a live and a file run (the input's name, the receive
// time and the latency), by frame index.
inline std::map<int64_t, nlohmann::json> comparable(const test::Result& r) {
  std::map<int64_t, nlohmann::json> out;
  for (auto j : r.lines()) {
    const int64_t frame = j["frame"].get<int64_t>();
    j.erase("input");
    j.erase("received");
    j.erase("latency_ms");
    j.erase("gap_before_s");
    out.emplace(frame, std::move(j));
  }
  return out;
}

// Whether this machine's ffmpeg lists `name` in `ffmpeg -<list>` (muxers, encoders, protocols): as the
// first word of a line or the word after its flags. The GPU machine's FFmpeg kit has no encoders, no
// HLS muxer and no SRT.
inline bool ffmpeg_lists(const std::string& list, const std::string& name) {
  return test::sh("ffmpeg -hide_banner -" + list + " 2>/dev/null | awk '$1 == \"" + name + "\" || $2 == \"" + name +
                  "\" { n++ } END { print n + 0 }'").rfind("0", 0) != 0;
}

class CliLive : public test::Cli {
 protected:
  void SetUp() override {
    args_ = "run -q --no-progress --task classify " + model() + " --topk 3 --live-drop none ";
    clip_ = test::media::h264_ts();  // 60 frames, 2 s, H.264 in MPEG-TS
    file_ = vidinfer(args_ + test::q(clip_));
    ASSERT_EQ(file_.rc, 0) << file_.err;
    ASSERT_EQ(file_.lines().size(), 60u);
  }
  void TearDown() override {
    for (const auto& pid : background_) test::sh("kill " + pid + " 2>/dev/null; wait " + pid + " 2>/dev/null");
  }
  // Starts `cmd` in the background (killed at the end of the test).
  void background(const std::string& cmd) {
    background_.push_back(test::sh("(" + cmd + ") >/dev/null 2>&1 </dev/null & echo $!"));
    while (!background_.back().empty() && background_.back().back() == '\n') background_.back().pop_back();
  }
  // The live run's frames equal the file's, one for one; each carries a receive time and latency.
  void expect_file_results(const test::Result& live) {
    const auto want = comparable(file_), got = comparable(live);
    expect_same_frames(got, want);
    // Receive times are wall-clock times of this run (their order follows the packets' decode order
    // and, where the model holds the reading back, its pace: no order is asserted).
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& j : live.lines()) {
      ASSERT_TRUE(j.contains("received") && j.contains("latency_ms")) << j.dump();
      EXPECT_GE(j["latency_ms"].get<double>(), 0.0);
      EXPECT_LE(j["received"].get<double>(), now);
      EXPECT_GE(j["received"].get<double>(), now - 600.0);
    }
    const auto rec = live.records();
    ASSERT_EQ(rec.size(), 1u);
    ASSERT_TRUE(rec[0].contains("live")) << rec[0].dump();
    EXPECT_EQ(rec[0]["live"]["frames_dropped"], 0);
    EXPECT_EQ(rec[0]["live"]["frames_processed"], static_cast<int64_t>(got.size()));
  }
  // A recording served over HTTP or piped in, read as the same file is: the same frames and values,
  // every one of them (with the live defaults), and none of a live input's fields (receive time,
  // latency, the summary's "live").
  void expect_recording_results(const test::Result& r, const test::Result& file) {
    expect_same_frames(comparable(r), comparable(file));
    for (const auto& j : r.lines())
      EXPECT_FALSE(j.contains("received") || j.contains("latency_ms")) << j.dump();
    const auto rec = r.records();
    ASSERT_EQ(rec.size(), 1u);
    EXPECT_FALSE(rec[0].contains("live")) << rec[0].dump();
    EXPECT_EQ(rec[0]["status"], "ok") << rec[0].dump();
  }
  // args_ with the live defaults (--live-drop when-full) and no wait at all for a batch slot: an input
  // read as live would lose the frames the model is not ready for.
  std::string recording_args() const {
    std::string a = args_;
    a.replace(a.find("--live-drop none "), 17, "--max-batch-wait 0 ");
    return a;
  }
  // The clip remuxed (stream copies) into `name` in the test's folder as MP4, with ffmpeg's `movflags`
  // ("+faststart": its index first; "": at its end; "frag_keyframe+empty_moov": fragmented).
  std::string clip_as_mp4(const std::string& name, const std::string& movflags = "+faststart") {
    const std::string mp4 = dir.file(name);
    test::sh("ffmpeg -loglevel error -y -i " + test::q(clip_) + " -c copy " +
             (movflags.empty() ? "" : "-movflags " + movflags + " ") + test::q(mp4));
    return mp4;
  }
  // tests/cli/cut_http_server.py on a free port, serving `file` with every transfer cut after `bytes`
  // (range requests honoured with `ranges`); the server's URL ("http://127.0.0.1:PORT/"), or empty
  // (with a failure) when it did not start within 10 s.
  std::string serve_cut(const std::string& file, size_t bytes, bool ranges) {
    const int port = free_port(SOCK_STREAM);
    const std::string log = dir.file("cut-server-" + std::to_string(port) + ".log");
    background("exec python3 " + test::q(std::string(VIDINFER_SOURCE_DIR) + "/tests/cli/cut_http_server.py") +
               (ranges ? " --ranges " : " ") + std::to_string(port) + " " + test::q(file) + " " + std::to_string(bytes) +
               " >" + test::q(log) + " 2>&1");
    for (int i = 0; i < 100 && slurp(log).find("ready") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (port > 0 && slurp(log).find("ready") != std::string::npos) return "http://127.0.0.1:" + std::to_string(port) + "/";
    ADD_FAILURE() << "the cut HTTP server did not start: " << slurp(log);
    return "";
  }
  // Serves `folder` over HTTP on a free port (Python's http.server, killed at the end of the test);
  // the URL of the folder, ending in '/'.
  std::string serve_http(const std::string& folder) {
    const int port = free_port(SOCK_STREAM);
    EXPECT_GT(port, 0);
    background("exec python3 -m http.server --bind 127.0.0.1 " + std::to_string(port) + " --directory " + test::q(folder));
    return "http://127.0.0.1:" + std::to_string(port) + "/";
  }
  // vidinfer on `url` of serve_http's server, which takes a moment to listen: refused attempts are
  // made again, every 200 ms for up to 10 s.
  test::Result vidinfer_once_served(const std::string& url, const std::string& args = "") {
    test::Result r;
    for (int attempt = 0; attempt < 50; ++attempt) {
      r = vidinfer((args.empty() ? args_ : args) + url);
      if (r.err.find("Connection refused") == std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
  }
  std::string start_rtsp_server(int port, std::string* why);
  std::string args_, clip_;
  test::Result file_;
  std::vector<std::string> background_;
};

// GStreamer's RTSP server for the clip on a free port (killed at the end of the test); empty when it
// is not installed (the reason in *why).
inline std::string CliLive::start_rtsp_server(int port, std::string* why) {
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";  // Debian's python3-gi
  const std::string log = dir.file("rtsp-" + std::to_string(port) + ".log");
  background("exec " + python + " " + test::q(std::string(VIDINFER_SOURCE_DIR) + "/tests/cli/rtsp_server.py") + " " +
             std::to_string(port) + " " + test::q(clip_) + " >" + test::q(log) + " 2>&1");
  for (int i = 0; i < 100; ++i) {
    const std::string text = slurp(log);
    if (text.find("ready") != std::string::npos) return "rtsp://127.0.0.1:" + std::to_string(port) + "/clip";
    if (text.find("no GStreamer") != std::string::npos || text.find("cannot listen") != std::string::npos) {
      *why = text;
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  *why = "the RTSP server did not start within 10 s: " + slurp(log);
  return "";
}

}  // namespace vidinfer::live_test
