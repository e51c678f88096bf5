// Demuxer: opens one input with libavformat, picks its video stream and hands out that stream's
// packets in decode order. Owns the format context. Not thread-safe; one reader at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/av.h"

namespace vidinfer {

struct StreamInfo {
  int index = -1;
  std::string container;
  AVRational time_base{0, 1};
  AVRational frame_rate{0, 1};  // average; {0,1} if unknown
  double start_time = 0;        // seconds; 0 if unknown
  double duration = 0;          // seconds; 0 if unknown
  int64_t nb_frames = 0;        // container's count, less an MP4 edit list's pre-roll; 0 if unknown
  double rotation = 0;          // degrees counter-clockwise (display matrix)
  const AVCodecParameters* codecpar = nullptr;  // owned by the demuxer
};

// How to read an input that is not a local file (a URL, a pipe), or a file read as a live camera
// would send it. Defaults read a local file as fast as it goes.
struct DemuxOptions {
  // URLs and pipes: the longest a read (or the opening) may wait for data before it fails as stalled
  // (libavformat's interrupt callback, so it holds for every protocol); 0: wait for ever.
  double stall_timeout = 0;
  std::string rtsp_transport = "tcp";  // rtsp://: "tcp" or "udp"
  // Set while the run is stopping: a blocked open or read returns at once.
  const std::atomic<bool>* stop = nullptr;
  // A blocked open or read also returns at this time (a live input's --duration); none: no limit.
  std::chrono::steady_clock::time_point until{};
  // Hand out each packet no sooner than its decode time after the first packet's (the pacing of a
  // live camera), so that a file simulates one.
  bool pace = false;
  // With `pace`: the first packet is handed out this many seconds after it is read, and the rest
  // keep their times from it (a camera started later).
  double pace_delay = 0;
};

// Whether the container states how long the stream is before it is read: a duration, and for MP4
// (mov) a sample table as well. (A fragmented MP4 written as it goes, a camera's piped in, states only
// its first fragment's length; MPEG-TS states none unless the reader could seek to its end.)
bool length_stated(const StreamInfo& st);

class Demuxer {
 public:
  // Throws vidinfer::Error naming `path`: missing, a directory, unreadable, empty, not a media file,
  // or no video stream. URLs ("scheme://...") and pipes ("-", "pipe:N") are opened through
  // libavformat's protocols; their errors name the cause libavformat gives (connection refused, ...).
  explicit Demuxer(std::string path, DemuxOptions options = {});

  // Reads an input held in memory (an upload, a fuzzer's bytes): libavformat reads `data` through a
  // custom AVIOContext, which can seek, so every container works as it does from a file. `data` is
  // not copied and must outlive the Demuxer. `name` names the input in errors. Throws as above.
  Demuxer(std::string name, std::span<const uint8_t> data);

  const std::string& path() const { return path_; }
  const StreamInfo& stream() const { return info_; }

  // The next packet of the video stream, into `pkt` (unreferenced first). False at the end of input.
  // A read error after the first packet (truncated or damaged file) ends the input like EOF and is
  // kept in read_error(); the frames before it are still good.
  bool read(AVPacket* pkt);
  const std::string& read_error() const { return read_error_; }
  // Whether the last read ended because the stream stalled (no data within the stall timeout).
  bool stalled() const { return stalled_; }
  // A paced input (DemuxOptions::pace): when the last packet read was due, the instant a camera
  // would have sent it. Read later than that (its reader was busy), the packet waited as a camera's
  // would in a socket, and its latency counts from then. None (the epoch) when not paced.
  std::chrono::steady_clock::time_point paced_due() const { return pace_due_; }

  // Moves DemuxOptions::until (none: no limit), for the reads from here on.
  void set_until(std::chrono::steady_clock::time_point until) { options_.until = until; }

  // Seconds of a timestamp in this stream's time base (relative to nothing: the container's time).
  double to_seconds(int64_t ts) const;

  // Random access, for decoding an input in segments. The container's index of keyframes (sync
  // samples), as timestamps in the stream's time base, ascending; empty when the container has no
  // index we trust for this (only mp4/mov, whose index holds decode timestamps, and Matroska, whose
  // cues hold presentation timestamps, are used). key_timestamp() is the packet's timestamp of the
  // same kind, to compare packets against index entries.
  // (Reading Matroska's cues seeks; call before reading packets.)
  std::vector<int64_t> keyframe_index();
  int64_t key_timestamp(const AVPacket* pkt) const { return index_is_dts_ ? pkt->dts : pkt->pts; }
  // Positions the reader at the keyframe whose index timestamp is `ts` (or the last before it).
  // Throws vidinfer::Error naming the input on failure.
  void seek_keyframe(int64_t ts);

  // What the in-memory input's AVIOContext callbacks read from (an implementation detail).
  struct MemoryInput {
    std::span<const uint8_t> data;
    size_t pos = 0;
  };

 private:
  struct AVIOContextFreer {
    void operator()(AVIOContext* c) const noexcept;
  };
  void open(AVFormatContext* ctx);  // takes ownership of ctx; opens and picks the video stream
  void open_stream();               // a URL or pipe, with the options' interrupt callback
  void pace(const AVPacket* pkt);   // waits until the packet's time has come (DemuxOptions::pace)
  static int interrupted(void* self);  // libavformat's interrupt callback
  bool past_until() const {
    return options_.until != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() >= options_.until;
  }

  std::string path_;
  // Destroyed in reverse order: the format context first (it reads through avio_), then the
  // AVIOContext and its buffer, then the memory it reads from.
  std::unique_ptr<MemoryInput> memory_;
  std::unique_ptr<AVIOContext, AVIOContextFreer> avio_;
  UniqueAVFormatContext fmt_;
  StreamInfo info_;
  std::string read_error_;
  bool index_is_dts_ = true;
  DemuxOptions options_;
  // The interrupt callback's deadline (steady clock, ns since its epoch); 0: none.
  std::atomic<int64_t> deadline_ns_{0};
  bool stalled_ = false;
  // Pacing: the first packet's decode time and when it was handed out.
  double pace_ts0_ = 0;
  std::chrono::steady_clock::time_point pace_t0_{};
  bool pace_started_ = false;
  std::chrono::steady_clock::time_point pace_due_{};  // the last packet's (paced_due)
};

// Throws if `path` is not a regular, readable, non-empty file (clear messages before FFmpeg's), naming
// the input `name` (the path itself when empty).
void check_input_file(const std::string& path, const std::string& name = {});

}  // namespace vidinfer
