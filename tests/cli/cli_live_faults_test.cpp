// Live inputs that fail, on loopback only and bounded in time: a UDP stream whose sender stops and
// starts again, and an RTSP server killed and restarted, are reconnected with their numbering going on
// (and a server that fails every connection before a frame is given up after --reconnect attempts);
// a stalled stream does not stall the others; a stream that cannot be opened (nothing sending, a
// refused connection) fails alone with a one-line error while the other inputs' results are all
// written, a camera's password not shown in it; ten minutes of stream keep the process's memory flat.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "cli_live_fixture.h"

namespace vidinfer {
namespace {

using namespace live_test;

TEST_F(CliLive, ALostStreamIsReconnectedAndItsNumberingGoesOn) {
  const int port = free_port(SOCK_DGRAM);
  ASSERT_GT(port, 0);
  const std::string send = "ffmpeg -loglevel error -re -i " + test::q(clip_) + " -c copy -f mpegts udp://127.0.0.1:" +
                           std::to_string(port) + "?pkt_size=1316";
  // The clip, 3 s of nothing (the sender gone), then the clip again, each once vidinfer listens.
  background(wait_for_udp_listener(port) + send + "; sleep 3; " + wait_for_udp_listener(port) + send);
  const test::Result r = vidinfer(args_ + "--stall-timeout 1 --reconnect -1 --duration 15 udp://127.0.0.1:" +
                                  std::to_string(port));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto lines = r.lines();
  ASSERT_GE(lines.size(), 90u) << r.err;  // both sends, less what the reconnect missed of the second
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["frame"], static_cast<int64_t>(i));
  const auto rec = r.records();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0]["status"], "ok");
  EXPECT_GE(rec[0]["live"]["reconnects"].get<int>(), 1);
  EXPECT_GE(rec[0]["live"]["gap_seconds"].get<double>(), 1.0);
  EXPECT_NE(r.err.find("reconnected; frame numbering goes on from 60"), std::string::npos) << r.err;
  // The gap, on the first frame after it (and on no other).
  for (const auto& j : lines) {
    if (j["frame"] == 60) {
      ASSERT_TRUE(j.contains("gap_before_s")) << j.dump();
      EXPECT_GE(j["gap_before_s"].get<double>(), 1.0);
      EXPECT_LE(j["gap_before_s"].get<double>(), rec[0]["live"]["gap_seconds"].get<double>() + 1e-3);
    } else {
      EXPECT_FALSE(j.contains("gap_before_s")) << j.dump();
    }
  }
}

// A stream that stalls (its sender stops after a second) while a paced camera goes on: the camera's
// frames are all there, with their usual latency, while the stalled stream waits for its sender to come
// back (it does not, and --duration ends it).
TEST_F(CliLive, AStalledStreamDoesNotStallTheOthers) {
  const int port = free_port(SOCK_DGRAM);
  ASSERT_GT(port, 0);
  const std::string udp = "udp://127.0.0.1:" + std::to_string(port);
  background(wait_for_udp_listener(port) + "exec ffmpeg -loglevel error -re -t 1 -i " + test::q(clip_) +
             " -c copy -f mpegts '" + udp + "?pkt_size=1316'");
  const test::Result r = vidinfer(args_ + "--live-pace --stall-timeout 1 --reconnect -1 --duration 6 " + udp + " " +
                                  test::q(clip_));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::map<int64_t, nlohmann::json> camera;
  int64_t stalled = 0;
  double worst = 0;
  for (auto j : r.lines()) {
    if (j["input"] == udp) {
      ++stalled;
      continue;
    }
    worst = std::max(worst, j["latency_ms"].get<double>());
    const int64_t f = j["frame"].get<int64_t>();
    for (const char* k : {"input", "received", "latency_ms"}) j.erase(k);
    camera.emplace(f, std::move(j));
  }
  expect_same_frames(camera, comparable(file_));
  EXPECT_LT(worst, 1000.0) << "the camera's frames waited for the stalled stream";
  EXPECT_GT(stalled, 0);
  EXPECT_LE(stalled, 45);  // the first second of the clip, no more
  EXPECT_NE(r.err.find(udp + ": stream lost after frame " + std::to_string(stalled) + " (no data for 1 s (stalled)): reconnecting"),
            std::string::npos) << r.err;
}

// A stream whose packets come late (here its sender pauses 4 s a quarter of the way through, then
// sends the rest at once; the same as a decoder or model too slow for it) skips, with the live
// defaults, from the first packet more than --max-lag (1 s) behind the stream's own pace up to the
// first keyframe no longer behind (LiveLag's own test has the arithmetic): those frames are counted as
// received and dropped, their numbers are given to no frame, and every other frame is the file's with
// its own number, also those the decoder still held when the skip began (NVDEC's queue; B-frames).
// With --max-lag 0 (or --live-drop none) nothing is skipped.
TEST_F(CliLive, AStreamFallenBehindSkipsToItsNextKeyframe) {
  const std::string base = "run -q --no-progress --task classify " + model() + " --topk 3 ";
  const std::string x264 = "-f lavfi -i testsrc2=size=160x120:rate=30:duration=6 -c:v libx264 -preset ultrafast "
                           "-g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p ";
  // Sends the clip with the pause where the packet `at` (decode order, from 0) starts: the packets
  // before it come on time (but its predecessor, which the demuxer hands out once it sees where the
  // next starts). (--max-batch-wait 2000: no frame is dropped for want of a batch slot, only by
  // skipping.)
  const auto paused = [&](const std::string& clip, int at, const std::string& opts) {
    std::string pos = test::sh("ffprobe -v error -select_streams v -show_entries packet=pos -of csv=p=0 " + test::q(clip) +
                               " | grep -v '^$' | sed -n " + std::to_string(at + 1) + "p");
    while (!pos.empty() && (pos.back() == '\n' || pos.back() == ',')) pos.pop_back();
    EXPECT_FALSE(pos.empty());
    const std::string o = dir.file("out"), e = dir.file("err");
    test::Result r;
    test::sh("{ head -c " + pos + " " + test::q(clip) + "; sleep 4; tail -c +" + std::to_string(std::stoll(pos) + 1) + " " +
                 test::q(clip) + "; } | " + VIDINFER_BIN + " " + base +
                 "--live-drop when-full --max-batch-wait 2000 " + opts + "- >" + test::q(o) + " 2>" + test::q(e),
             &r.rc);
    r.out = slurp(o);
    r.err = slurp(e);
    return r;
  };
  // Without B-frames; with B-frames in closed GOPs; with B-frames in open GOPs (the pictures shown
  // before a keyframe but decoded after it, whose other reference was before the keyframe).
  const std::vector<std::pair<std::string, std::string>> clips = {
      {"live-lag-gop30", "-bf 0"}, {"live-lag-gop30-bf2", "-bf 2"}, {"live-lag-gop30-open", "-bf 2 -x264-params open-gop=1"}};
  for (const auto& [name, encoding] : clips) {
    SCOPED_TRACE(name);
    const bool bframes = encoding != "-bf 0";
    const std::string clip = test::clip(name, "ts", x264 + encoding);
    const test::Result file = vidinfer(base + test::q(clip));
    ASSERT_EQ(file.rc, 0) << file.err;
    ASSERT_EQ(file.lines().size(), 180u);
    // The clip's packets in decode order: the frame each holds (its place in presentation order),
    // and whether it is a keyframe.
    std::vector<std::pair<double, bool>> packets;
    std::istringstream probe(test::sh("ffprobe -v error -select_streams v -show_entries packet=pts_time,flags -of csv=p=0 " +
                                      test::q(clip)));
    for (std::string line; std::getline(probe, line);)
      if (const auto comma = line.find(','); comma != std::string::npos)
        packets.emplace_back(std::stod(line.substr(0, comma)), line.find('K', comma) != std::string::npos);
    ASSERT_EQ(packets.size(), 180u);
    std::vector<double> order;
    for (const auto& p : packets) order.push_back(p.first);
    std::sort(order.begin(), order.end());
    const auto frame_of = [&](size_t packet) {
      return static_cast<int64_t>(std::lower_bound(order.begin(), order.end(), packets[packet].first) - order.begin());
    };
    if (bframes > 0) {
      bool reordered = false;
      for (size_t i = 0; i < packets.size(); ++i) reordered |= frame_of(i) != static_cast<int64_t>(i);
      ASSERT_TRUE(reordered) << "the clip has no B-frames";
    }

    const test::Result skipped = paused(clip, 45, "");
    ASSERT_EQ(skipped.rc, 0) << skipped.err;
    std::map<int64_t, nlohmann::json> got;
    for (auto j : skipped.lines()) {
      const int64_t f = j["frame"].get<int64_t>();
      for (const char* k : {"input", "received", "latency_ms", "gap_before_s"}) j.erase(k);
      EXPECT_TRUE(got.emplace(f, std::move(j)).second) << "frame " << f << " twice";
    }
    std::set<int64_t> missing;
    for (int64_t f = 0; f < 180; ++f)
      if (!got.count(f)) missing.insert(f);
    ASSERT_FALSE(missing.empty()) << "nothing was skipped: " << skipped.err;
    // The frames of one run of packets (decode order), from the one before the pause or a few
    // earlier (the reader is late from there) up to a keyframe's. After an open GOP's keyframe come
    // pictures shown before it ("leading") whose other reference was skipped: the decoder may hand
    // them out (made up in part, so only their numbers and timestamps are the file's) or not.
    bool one_run = false;
    std::set<int64_t> leading;
    for (size_t from = 38; from <= 45 && !one_run; ++from)
      for (size_t to = from + 1; to < packets.size() && !one_run; ++to) {
        if (!packets[to].second) continue;
        std::set<int64_t> frames, lead;
        for (size_t i = from; i < to; ++i) frames.insert(frame_of(i));
        for (size_t i = to + 1; i < packets.size() && !packets[i].second; ++i)
          if (frame_of(i) < frame_of(to)) lead.insert(frame_of(i));
        std::set<int64_t> rest;
        std::set_difference(missing.begin(), missing.end(), lead.begin(), lead.end(), std::inserter(rest, rest.end()));
        one_run = frames == rest;
        if (one_run) leading = lead;
      }
    std::string list;
    for (int64_t f : missing) list += " " + std::to_string(f);
    EXPECT_TRUE(one_run) << "skipped frames not those of one run of packets up to a keyframe:" << list;
    EXPECT_EQ(leading.empty(), encoding.find("open-gop") == std::string::npos);
    EXPECT_EQ(got.rbegin()->first, 179);  // numbering went on past the skipped frames
    std::map<int64_t, nlohmann::json> want = comparable(file);
    for (int64_t f : missing) want.erase(f);
    for (int64_t f : leading) {
      if (!got.count(f)) continue;
      EXPECT_NEAR(got[f]["pts"].get<double>(), want.at(f)["pts"].get<double>(), 1e-6) << "frame " << f;
      got.erase(f);
      want.erase(f);
    }
    expect_same_frames(got, want);
    const nlohmann::json live = skipped.records().at(0)["live"];
    int64_t lost_leading = 0;  // (not handed out by the decoder: neither skipped nor decoded)
    for (int64_t f : leading) lost_leading += missing.count(f);
    EXPECT_EQ(live["frames_received"], 180 - lost_leading) << live.dump();
    EXPECT_EQ(live["frames_dropped"], static_cast<int64_t>(missing.size()) - lost_leading) << live.dump();
    EXPECT_EQ(live["frames_processed"], static_cast<int64_t>(180 - missing.size())) << live.dump();

    if (bframes) continue;
    const test::Result kept = paused(clip, 45, "--max-lag 0 ");
    ASSERT_EQ(kept.rc, 0) << kept.err;
    EXPECT_EQ(kept.lines().size(), 180u);
    EXPECT_EQ(kept.records().at(0)["live"]["frames_dropped"], 0) << kept.records().at(0).dump();
    EXPECT_EQ(vidinfer(base + "--max-lag -1 " + test::q(clip)).rc, 2);
  }
}

TEST_F(CliLive, AnRtspServerKilledAndRestartedIsReconnected) {
  const int port = free_port(SOCK_STREAM);
  std::string why;
  if (start_rtsp_server(port, &why).empty()) GTEST_SKIP() << why;
  const std::string url = "rtsp://127.0.0.1:" + std::to_string(port) + "/clip";
  // A second after vidinfer connected, the server is killed; a second later it is back.
  const std::string pid = background_.back();
  background(wait_for_tcp_client(port) + "sleep 1; kill " + pid + "; sleep 1; exec " +
             std::string(fs::exists("/usr/bin/python3") ? "/usr/bin/python3 " : "python3 ") +
             test::q(std::string(VIDINFER_SOURCE_DIR) + "/tests/cli/rtsp_server.py") + " " + std::to_string(port) + " " +
             test::q(clip_));
  const test::Result r = vidinfer(args_ + "--reconnect -1 --stall-timeout 2 --duration 12 " + url);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto lines = r.lines();
  ASSERT_GE(lines.size(), 60u) << r.err;  // a part of the first stream, and the whole second
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["frame"], static_cast<int64_t>(i));
  const auto rec = r.records();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0]["status"], "ok");
  EXPECT_GE(rec[0]["live"]["reconnects"].get<int>(), 1);
  EXPECT_NE(r.err.find(url + ": reconnected; frame numbering goes on from"), std::string::npos) << r.err;
  int gaps = 0;
  for (const auto& j : lines) gaps += j.contains("gap_before_s") && j["gap_before_s"].get<double>() > 0;
  EXPECT_GE(gaps, 1);  // (the first frame after each reconnect)
  EXPECT_LE(gaps, rec[0]["live"]["reconnects"].get<int>());
}

TEST_F(CliLive, AStreamThatCannotBeOpenedFailsAloneAndTheOthersAreWritten) {
  const int quiet = free_port(SOCK_DGRAM), refused = free_port(SOCK_STREAM);
  ASSERT_GT(quiet, 0);
  ASSERT_GT(refused, 0);
  const std::string udp = "udp://127.0.0.1:" + std::to_string(quiet);
  const std::string rtsp = "rtsp://127.0.0.1:" + std::to_string(refused) + "/camera";
  const auto t0 = std::chrono::steady_clock::now();
  const test::Result r = vidinfer(args_ + "--stall-timeout 1 " + udp + " " + test::q(clip_) + " " + rtsp);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_LT(took, 30.0);
  // The file's results, all of them.
  const auto want = comparable(file_);
  std::map<int64_t, nlohmann::json> got;
  for (auto j : r.lines()) {
    EXPECT_EQ(j["input"], clip_);
    const int64_t f = j["frame"].get<int64_t>();
    j.erase("input");
    got.emplace(f, std::move(j));
  }
  expect_same_frames(got, want);
  EXPECT_NE(r.err.find("error: " + udp + ": cannot open input: no answer within the stall timeout\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("error: " + rtsp + ": cannot open input: Connection refused\n"), std::string::npos) << r.err;
}

// A server that takes every connection and fails every transfer before the first frame (a fragmented
// MP4, as a camera records, cut inside its first fragment): each connection made again and
// lost before a frame is a failed attempt, so that --reconnect 2 gives the stream up after two,
// instead of reconnecting for ever (as it did: each connection opened, and that reset the count).
TEST_F(CliLive, AStreamLostBeforeEveryFirstFrameIsGivenUp) {
  const std::string frag = clip_as_mp4("frag.mp4", "frag_keyframe+empty_moov");
  const std::string bytes = slurp(frag);
  // Cut 100 bytes into the first fragment's data: the header and the fragment's index are whole (it
  // opens), its first frame is not.
  const size_t mdat = bytes.find("mdat", bytes.find("moof"));
  ASSERT_NE(mdat, std::string::npos) << "ffmpeg wrote no fragmented MP4";
  const std::string server = serve_cut(frag, mdat + 100, false);
  ASSERT_FALSE(server.empty());
  const std::string url = server + "cam.mp4";
  const auto t0 = std::chrono::steady_clock::now();
  const test::Result r = vidinfer(args_ + "--reconnect 2 " + url);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30.0);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_TRUE(r.lines().empty());
  const auto count = [&](const std::string& what) {
    int n = 0;
    for (size_t at = r.err.find(what); at != std::string::npos; at = r.err.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(url + ": stream lost after frame 0 ("), 2) << r.err;
  EXPECT_EQ(count(url + ": reconnected; frame numbering goes on from 0"), 2) << r.err;
  EXPECT_NE(r.err.find("vidinfer: error: " + url + ": stream lost: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; 2 attempts to reconnect failed, the last: connected, but lost again before a frame came"),
            std::string::npos)
      << r.err;
}

// A camera's URL carries its password: messages (stderr, and the error in the results) show it as
// "***"; the results' "input" is the URL as given, so that they still match the input list.
TEST_F(CliLive, ACamerasPasswordIsNotShownInMessages) {
  const int refused = free_port(SOCK_STREAM);
  ASSERT_GT(refused, 0);
  const std::string rtsp = "rtsp://viewer:s3cret@127.0.0.1:" + std::to_string(refused) + "/camera";
  const std::string shown = "rtsp://viewer:***@127.0.0.1:" + std::to_string(refused) + "/camera";
  const test::Result r = vidinfer(args_ + rtsp);
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("vidinfer: error: " + shown + ": cannot open input: Connection refused\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << r.err;
  const auto rec = r.records();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0]["input"], rtsp);
  EXPECT_EQ(rec[0]["error"], shown + ": cannot open input: Connection refused");
}

// Resident memory of process `pid` in MiB (0 once it is gone).
double rss_mib(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// Ten minutes of a live stream (18,000 frames of 160x120 encoded as they are sent, received through a
// pipe as fast as the sender goes, so that it takes seconds here, not minutes) with the live defaults (drops
// when full): every frame is received and either processed or counted as dropped, and the process's
// memory in the last quarter of the run is what it was in the second (no per-frame growth: queues,
// receive times and latency records are bounded).
TEST_F(CliLive, TenMinutesOfStreamKeepMemoryFlat) {
  if (!ffmpeg_lists("encoders", "libx264"))
    GTEST_SKIP() << "this machine's ffmpeg has no libx264 encoder to make the stream";
  const std::string o = dir.file("out"), e = dir.file("err"), summary = dir.file("summary.json");
  std::string args = args_;
  args.replace(args.find("--live-drop none"), 16, "--live-drop when-full");
  // (Under AddressSanitizer, freed memory is held back in a quarantine of 256 MiB by default, which
  // fills for the first half of this run and more, and the leak check at exit scans the heap with
  // ~40 MiB of its own: both read as growth. Here the quarantine is kept small and the leak check is
  // left to the other live tests, which run the same code. Other builds ignore the variable.)
  const std::string started = test::sh(std::string("(ffmpeg -loglevel error -f lavfi -i testsrc2=size=160x120:rate=30:duration=600 "
                                   "-c:v libx264 -preset ultrafast -bf 2 -g 30 -pix_fmt yuv420p -f mpegts - | "
                                   "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:quarantine_size_mb=4:thread_local_quarantine_size_kb=64:detect_leaks=0\" exec ") +
                                   VIDINFER_BIN + " " + args +
                                   "--summary " + test::q(summary) + " - >" + test::q(o) + " 2>" +
                                   test::q(e) + ") >/dev/null 2>&1 </dev/null & echo $!");
  std::string pid = started;
  while (!pid.empty() && pid.back() == '\n') pid.pop_back();
  // ($! is the subshell's; its last command is exec'ed vidinfer, found as the subshell's child.)
  std::string vi;
  for (int i = 0; i < 100 && vi.empty(); ++i) {
    vi = test::sh("pgrep -n -P " + pid + " -f " + test::q(std::string(VIDINFER_BIN) + " run") + " 2>&1");
    while (!vi.empty() && vi.back() == '\n') vi.pop_back();
    if (vi.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(vi.empty()) << "vidinfer did not start: " << slurp(e);
  std::vector<double> rss;
  for (double m; (m = rss_mib(vi)) > 0;) {
    rss.push_back(m);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // (The subshell is not this process's child: wait until it is gone.)
  for (int i = 0; i < 600 && fs::exists("/proc/" + pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(summary)) << "pid " << vi << ", " << rss.size() << " samples: " << slurp(e);
  const auto s = nlohmann::json::parse(slurp(summary));
  const auto& live = s["inputs"][0]["live"];
  EXPECT_EQ(live["frames_received"], 18000) << slurp(e);
  EXPECT_EQ(live["frames_processed"].get<int64_t>() + live["frames_dropped"].get<int64_t>(), 18000);
  std::ifstream out(o);
  int64_t lines = 0;
  for (std::string l; std::getline(out, l);) lines += l.find("\"frame\"") != std::string::npos;
  EXPECT_EQ(lines, live["frames_processed"].get<int64_t>());  // (frame lines; the end-of-input record has none)
  ASSERT_GE(rss.size(), 20u) << "the run was too short to watch its memory";
  const size_t q = rss.size() / 4;
  const double second = *std::max_element(rss.begin() + q, rss.begin() + 2 * q);
  const double last = *std::max_element(rss.begin() + 3 * q, rss.end());
  std::printf("resident memory: second quarter %.1f MiB, last quarter %.1f MiB (%zu samples)\n", second, last, rss.size());
  EXPECT_LT(last - second, 8.0) << "memory grew over the run";
}

}  // namespace
}  // namespace vidinfer
