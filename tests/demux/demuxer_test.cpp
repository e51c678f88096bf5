#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include <filesystem>
#include <span>

#include "demux/demuxer.h"
#include "support.h"
#include "vidinfer/error.h"
#include "vidinfer/probe.h"

namespace vidinfer {
namespace {

using test::error_of;

using test::ffprobe_stream;
namespace media = test::media;

struct ContainerCase {
  const char* name;
  std::string (*make)();
  const char* codec;
  const char* pix_fmt;
};

class DemuxContainers : public ::testing::TestWithParam<ContainerCase> {};

TEST_P(DemuxContainers, StreamFactsMatchFfprobe) {
  const auto& c = GetParam();
  const std::string path = c.make();
  const auto ref = ffprobe_stream(path);
  const ProbeInfo p = probe(path);
  EXPECT_EQ(p.codec, ref.at("codec_name").get<std::string>());
  EXPECT_EQ(p.codec, c.codec);
  EXPECT_EQ(p.width, ref.at("width").get<int>());
  EXPECT_EQ(p.height, ref.at("height").get<int>());
  EXPECT_EQ(p.pixel_format, ref.at("pix_fmt").get<std::string>());
  EXPECT_EQ(p.pixel_format, c.pix_fmt);
  EXPECT_EQ(p.stream_index, ref.at("index").get<int>());
  EXPECT_EQ(p.frame_count, std::stoll(ref.at("nb_read_packets").get<std::string>()));
  EXPECT_NEAR(p.frame_rate, 30.0, 1e-6);
  EXPECT_NEAR(p.duration, 2.0, 0.1);
  // Either answer is right depending on the machine; the reason must say which and why.
  if (p.gpu_decode) {
    EXPECT_EQ(p.gpu_reason.rfind("NVDEC on ", 0), 0u) << p.gpu_reason;
  } else {
    EXPECT_FALSE(p.gpu_reason.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Containers, DemuxContainers,
    ::testing::Values(ContainerCase{"mp4_h264", &media::h264_mp4, "h264", "yuv420p"},
                      ContainerCase{"mkv_hevc10", &media::hevc10_mkv, "hevc", "yuv420p10le"},
                      ContainerCase{"webm_vp9", &media::vp9_webm, "vp9", "yuv420p"},
                      ContainerCase{"ts_h264", &media::h264_ts, "h264", "yuv420p"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Demux, ReportsColourTagsAndBitDepth) {
  const ProbeInfo a = probe(media::h264_mp4());
  EXPECT_EQ(a.color_matrix, "bt709");
  EXPECT_EQ(a.color_range, "tv");
  EXPECT_EQ(a.color_primaries, "bt709");
  EXPECT_EQ(a.bit_depth, 8);
  EXPECT_EQ(a.profile, ffprobe_stream(media::h264_mp4()).at("profile").get<std::string>());
  const ProbeInfo b = probe(media::hevc10_mkv());
  EXPECT_EQ(b.bit_depth, 10);
  EXPECT_EQ(b.profile, "Main 10");
  EXPECT_TRUE(b.frame_count_exact) << "Matroska has no frame count: it is counted";
}

TEST(Demux, ReportsRotation) {
  const std::string path = test::clip("rotated", "mp4", "-i " + test::q(media::h264_mp4()) + " -c copy -metadata:s:v:0 rotate=90");
  const auto ref = ffprobe_stream(path).at("side_data_list").at(0).at("rotation").get<double>();
  EXPECT_NE(ref, 0.0);
  EXPECT_DOUBLE_EQ(probe(path).rotation, ref);
}

TEST(Demux, PicksTheVideoStreamWhenItIsNotFirst) {
  Demuxer d(media::audio_first());
  EXPECT_EQ(d.stream().index, 1);
  auto pkt = make_av_packet();
  int n = 0;
  while (d.read(pkt.get())) {
    EXPECT_EQ(pkt->stream_index, 1);
    ++n;
  }
  EXPECT_EQ(n, 60);
}

TEST(Demux, PacketsComeInDecodeOrderWithBFrames) {
  Demuxer d(media::h264_mp4());
  auto pkt = make_av_packet();
  int64_t last_dts = INT64_MIN;
  bool pts_out_of_order = false;
  int64_t last_pts = INT64_MIN;
  while (d.read(pkt.get())) {
    EXPECT_GT(pkt->dts, last_dts);
    last_dts = pkt->dts;
    pts_out_of_order |= pkt->pts < last_pts;
    last_pts = pkt->pts;
  }
  EXPECT_TRUE(pts_out_of_order) << "the clip has B-frames, so presentation order differs";
}

// A paced file hands each packet out at its decode time after the first's, and says when it was due:
// one read late (its reader busy) was due earlier than it was read, as a camera's packet waits in a
// socket; one read on time was due as it was read. Unpaced: no due time.
TEST(DemuxPace, LateReadsKeepTheTimeThePacketWasDue) {
  using Clock = std::chrono::steady_clock;
  const auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  DemuxOptions how;
  how.pace = true;
  Demuxer d(media::h264_mp4(), how);
  auto pkt = make_av_packet();
  ASSERT_TRUE(d.read(pkt.get()));
  const Clock::time_point due0 = d.paced_due();
  const double dts0 = d.to_seconds(pkt->dts);
  // (Margins of 60 ms for a loaded machine's wake-ups: the late packets below are 130 ms late or more.)
  EXPECT_LT(std::abs(ms(Clock::now() - due0)), 60.0);  // the first packet: due as it is read
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the reader is busy for 0.3 s
  int late = 0, on_time = 0;
  while (d.read(pkt.get())) {
    const Clock::time_point read_at = Clock::now();
    const double offset_ms = (d.to_seconds(pkt->dts) - dts0) * 1e3;
    EXPECT_NEAR(ms(d.paced_due() - due0), offset_ms, 1.0);  // due by its own timestamp, however late read
    if (offset_ms < 150) {
      EXPECT_GT(ms(read_at - d.paced_due()), 300 - offset_ms - 20) << "packet at " << offset_ms << " ms";
      ++late;
    } else if (offset_ms > 400) {
      EXPECT_LT(ms(read_at - d.paced_due()), 60.0) << "packet at " << offset_ms << " ms";
      if (++on_time == 3) break;
    }
  }
  EXPECT_GT(late, 3);
  EXPECT_EQ(on_time, 3);
  Demuxer unpaced(media::h264_mp4());
  ASSERT_TRUE(unpaced.read(pkt.get()));
  EXPECT_EQ(unpaced.paced_due(), Clock::time_point{});
}

TEST(DemuxErrors, MissingFile) {
  EXPECT_EQ(error_of([] { Demuxer d("/nonexistent/clip.mp4"); }),
            "/nonexistent/clip.mp4: cannot open input: file not found");
}

TEST(DemuxErrors, Directory) {
  test::TempDir dir;
  EXPECT_EQ(error_of([&] { Demuxer d(dir.path()); }), dir.path() + ": cannot open input: is a directory");
}

TEST(DemuxErrors, EmptyFile) {
  test::TempDir dir;
  test::write_bytes(dir.file("empty.mp4"), {});
  EXPECT_EQ(error_of([&] { Demuxer d(dir.file("empty.mp4")); }),
            dir.file("empty.mp4") + ": cannot open input: empty file (0 bytes)");
}

TEST(DemuxErrors, NotAVideo) {
  test::TempDir dir;
  std::vector<uint8_t> text(4000);
  for (size_t i = 0; i < text.size(); ++i) text[i] = "this is not a video, just text.\n"[i % 32];
  test::write_bytes(dir.file("notes.mp4"), text);
  EXPECT_EQ(error_of([&] { Demuxer d(dir.file("notes.mp4")); }),
            dir.file("notes.mp4") + ": cannot open input: not a recognised media file");
}

TEST(DemuxErrors, AudioOnly) {
  const std::string path = media::audio_only();
  EXPECT_EQ(error_of([&] { Demuxer d(path); }), path + ": no video stream: the file has audio only");
}

TEST(DemuxErrors, TruncatedMp4WithoutIndexFailsClearly) {
  // FFmpeg writes the mp4 index (moov) at the end: cut the file and the index is gone.
  test::TempDir dir;
  auto bytes = test::read_bytes(media::h264_mp4());
  bytes.resize(bytes.size() / 2);
  test::write_bytes(dir.file("cut.mp4"), bytes);
  const std::string cause =
      "the MP4/MOV file is truncated or was never finalised: it has no index (moov box), as when a "
      "recording or copy stops before the end";
  EXPECT_EQ(error_of([&] { Demuxer d(dir.file("cut.mp4")); }), dir.file("cut.mp4") + ": cannot open input: " + cause);
  EXPECT_EQ(error_of([&] { Demuxer d("upload.mp4", bytes); }), "upload.mp4: cannot open input: " + cause);
  // Cut inside the first box (ftyp) too, and a file whose boxes are whole but hold no moov (a
  // recorder's file with the index never written): the same message.
  const auto whole = test::read_bytes(media::h264_mp4());
  const std::vector<uint8_t> in_ftyp(whole.begin(), whole.begin() + 12);
  EXPECT_EQ(error_of([&] { Demuxer d("short.mp4", in_ftyp); }), "short.mp4: cannot open input: " + cause);
  const uint32_t ftyp_size = uint32_t{whole[0]} << 24 | uint32_t{whole[1]} << 16 | uint32_t{whole[2]} << 8 | whole[3];
  std::vector<uint8_t> no_moov(whole.begin(), whole.begin() + ftyp_size);  // the ftyp box, then a whole mdat
  const std::vector<uint8_t> mdat = {0, 0, 0, 16, 'm', 'd', 'a', 't', 1, 2, 3, 4, 5, 6, 7, 8};
  no_moov.insert(no_moov.end(), mdat.begin(), mdat.end());
  EXPECT_EQ(error_of([&] { Demuxer d("unfinished.mp4", no_moov); }), "unfinished.mp4: cannot open input: " + cause);
}

TEST(DemuxErrors, TruncatedTsEndsEarlyWithoutError) {
  test::TempDir dir;
  auto bytes = test::read_bytes(media::h264_ts());
  bytes.resize(bytes.size() / 2 + 77);  // mid-packet
  test::write_bytes(dir.file("cut.ts"), bytes);
  Demuxer d(dir.file("cut.ts"));
  auto pkt = make_av_packet();
  int n = 0;
  while (d.read(pkt.get())) ++n;
  EXPECT_GT(n, 10);
  EXPECT_LT(n, 60);
}

// The in-memory path reads the same stream facts and the same packets as the file path, for a
// container that needs seeking (mp4 with B-frames) and one that is read straight through (MPEG-TS).
TEST(DemuxMemory, SamePacketsAsFromTheFile) {
  for (const std::string& path : {media::h264_mp4(), media::h264_ts(), media::audio_first()}) {
    const auto bytes = test::read_bytes(path);
    Demuxer from_file(path);
    Demuxer from_memory("upload.bin", bytes);
    EXPECT_EQ(from_memory.path(), "upload.bin");
    EXPECT_EQ(from_memory.stream().index, from_file.stream().index) << path;
    EXPECT_EQ(from_memory.stream().container, from_file.stream().container) << path;
    EXPECT_DOUBLE_EQ(from_memory.stream().duration, from_file.stream().duration) << path;
    auto a = make_av_packet(), b = make_av_packet();
    int n = 0;
    while (from_file.read(a.get())) {
      ASSERT_TRUE(from_memory.read(b.get())) << path << " packet " << n;
      EXPECT_EQ(a->pts, b->pts);
      EXPECT_EQ(a->dts, b->dts);
      ASSERT_EQ(a->size, b->size);
      EXPECT_EQ(std::memcmp(a->data, b->data, a->size), 0);
      ++n;
    }
    EXPECT_FALSE(from_memory.read(b.get()));
    EXPECT_GT(n, 50) << path;
  }
}

TEST(DemuxMemory, ErrorsNameTheInput) {
  EXPECT_EQ(error_of([] { Demuxer d("upload.mp4", std::span<const uint8_t>()); }),
            "upload.mp4: cannot open input: empty file (0 bytes)");
  std::vector<uint8_t> text(4000);
  for (size_t i = 0; i < text.size(); ++i) text[i] = "this is not a video, just text.\n"[i % 32];
  EXPECT_EQ(error_of([&] { Demuxer d("upload.mp4", text); }), "upload.mp4: cannot open input: not a recognised media file");
  const auto audio = test::read_bytes(media::audio_only());
  EXPECT_EQ(error_of([&] { Demuxer d("upload.m4a", audio); }), "upload.m4a: no video stream: the file has audio only");
}

// A playlist in memory must not make libavformat open the files it names (from disk, the same
// playlist opens: checked first, so the refusal is what the second half sees).
TEST(DemuxMemory, DoesNotOpenOtherFiles) {
  if (!av_find_input_format("hls")) GTEST_SKIP() << "this FFmpeg has no HLS demuxer (the GPU machine's kit)";
  test::TempDir dir;
  const std::string playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\n" +
                               media::h264_ts() + "\n#EXT-X-ENDLIST\n";
  const std::vector<uint8_t> bytes(playlist.begin(), playlist.end());
  test::write_bytes(dir.file("list.m3u8"), bytes);
  Demuxer from_disk(dir.file("list.m3u8"));
  EXPECT_EQ(from_disk.stream().container, "hls");
  const std::string msg = error_of([&] { Demuxer d("list.m3u8", bytes); });
  EXPECT_EQ(msg.rfind("list.m3u8: ", 0), 0u) << msg;
  EXPECT_NE(msg, "(no error)");
}

}  // namespace
}  // namespace vidinfer
