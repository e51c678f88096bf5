#include "pipeline/job_runner.h"

// Under AddressSanitizer or ThreadSanitizer, malloc is the sanitizer's and glibc's heap is never set
// up: malloc_trim would set it up, and two reaper threads doing that at once corrupt it (the process
// aborts in glibc's thread exit, "a->attached_threads > 0"). There is nothing of glibc's to trim then.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VIDINFER_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VIDINFER_SANITIZER_ALLOCATOR 1
#endif
#endif
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "common/cuda.h"
#include "common/timer.h"
#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "infer/model.h"
#include "pipeline/live_lag.h"
#include "pipeline/skipped_numbers.h"
#include "vidinfer/error.h"

namespace vidinfer {

WorkerState::WorkerState(int i, const RunOptions& opt) : id(i), pre(opt.spec), gpre(opt.spec) {
  gpre.kernel = opt.tuning.preprocess_kernel == PreprocessKernel::Direct ? 1 : 0;
}

WorkerState::~WorkerState() {
  if (reaper.joinable()) reaper.join();
}

namespace {

// A timestamp of FFmpeg's, none where it has none (AV_NOPTS_VALUE).
std::optional<int64_t> known(int64_t ts) { return ts != AV_NOPTS_VALUE ? std::optional<int64_t>(ts) : std::nullopt; }

// One job's decoding, start to end. The steps are member functions so that each stays short; the
// state they share is the job's.
class JobRun {
 public:
  JobRun(const Job& job, const InputSource& input, WorkerState& w, const JobContext& ctx)
      : job_(job), path_(input.locator()), src_(input), w_(w), ctx_(ctx), opt_(ctx.opt), segmented_(job.segments > 1),
        live_(input.live()) {
    done_.job = job;
    done_.summary.input = path_;
    if (live_) done_.summary.live = LiveSummary{};
    t0_ = std::chrono::steady_clock::now();
    if (live_ && opt_.live.duration > 0)
      until_ = t0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(opt_.live.duration));
    done_.t_start = std::chrono::duration<double>(t0_ - ctx.run_t0).count();
    slot_bytes_ = 3 * static_cast<int64_t>(opt_.spec.height) * opt_.spec.width *
                  torch::elementSize(to_scalar_type(opt_.spec.dtype));
  }

  void run() {
    try {
      open();
      decode();
      finish_decoding();
    } catch (const Error& e) {
      done_.summary.status = InputStatus::Failed;
      done_.summary.error = e.input().empty() ? e.with_input(path_).what() : e.what();
    } catch (const std::exception& e) {
      done_.summary.status = InputStatus::Failed;
      done_.summary.error = Error("failed", path_, e.what()).what();
    }
    close();
  }

 private:
  void open() {
    DemuxOptions how;
    if (live_) {
      how.stall_timeout = opt_.live.stall_timeout;
      how.rtsp_transport = opt_.live.rtsp_transport;
      how.stop = stop_;
      how.until = until_;
      how.pace = src_.kind() == InputSource::Kind::File;
      if (how.pace && opt_.live.pace_stagger > 0) {
        // Input k at frac(k x golden ratio) of the stagger: evenly spread however many there are.
        const double phase = std::fmod(static_cast<double>(job_.input) * 0.6180339887498949, 1.0);
        how.pace_delay = phase * opt_.live.pace_stagger;
      }
    }
    demuxer_ = std::make_unique<Demuxer>(path_, how);
    if (live_ && !opened_once_ && src_.may_be_recording() && length_stated(demuxer_->stream())) read_as_recording();
    opened_once_ = true;
    decoder_ = ctx_.decoders.open(demuxer_->stream(), path_, note_, live_);
    done_.summary.decoder = decoder_->name() + note_;
    stream_ = decoder_->cuda_stream();
    done_.summary.nvdec = stream_ != 0;
    // This worker's earlier jobs may have written into batches still open, on their own streams:
    // this stream waits for that work first, so the written events recorded on it cover it too.
    if (stream_ && !opt_.skip_preprocess && static_cast<size_t>(w_.id) < ctx_.pool.written.size())
      for (const cuda::Event& e : ctx_.pool.written[w_.id]) cuda::wait(stream_, e);
    t_open_ = seconds_since(t0_);
    const StreamInfo& st = demuxer_->stream();
    turn_ = opt_.apply_rotation ? display_turn(st.rotation) : 0;
    frame_dur_ = st.frame_rate.num ? av_q2d(av_inv_q(st.frame_rate)) : 0.0;
    expected_ = st.nb_frames > 0 ? static_cast<double>(st.nb_frames) : st.duration * av_q2d(st.frame_rate);
    last_pts_ = st.start_time - frame_dur_;
    if (job_.start_key != AV_NOPTS_VALUE) demuxer_->seek_keyframe(job_.start_key);
  }

  // An HTTP(S) URL or a pipe that turned out to carry a recording (InputSource::may_be_recording: an
  // MP4 on a web server, a finished HLS playlist) is read as a local file is: every frame, however
  // far ahead of the model its data comes (no frame dropped, none skipped), without receive times or
  // latencies, and not cut by --duration. Read as live, such a file lost most of its frames to a
  // model slower than the download (12 of 15 on the CPU with the bundled detector).
  void read_as_recording() {
    live_ = false;
    done_.summary.live.reset();
    until_ = {};
    demuxer_->set_until({});
  }

  // Packets to the decoder, frames out of it, until the job's frames are done or the run stops; a
  // live input's lost connection is made again (LiveOptions::reconnect) and decoding goes on.
  void decode() {
    while (true) {
      decode_connection();
      if (!live_ || finished_ || *stop_) return;
      if (duration_passed()) {
        finished_ = true;  // --duration: the input's normal end
        return;
      }
      const bool lost = !demuxer_->read_error().empty() || !src_.ends_at_eof();
      if (!lost || !src_.reconnectable() || opt_.live.reconnect == 0) return;
      if (!reconnect()) return;
    }
  }

  bool duration_passed() const {
    return until_ != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() >= until_;
  }

  // Opens the lost stream again, after a back-off that doubles from 0.5 s to 8 s. False when the run
  // stopped or the duration passed meanwhile; throws once `reconnect` attempts in a row have failed.
  // A connection made again but lost before it gave a frame was a failed attempt too (a server that
  // takes the connection and then fails the read, every time): without that, such a stream was
  // reconnected for ever, whatever `reconnect` said.
  bool reconnect() {
    const std::string cause = demuxer_->read_error().empty() ? "the stream ended" : demuxer_->read_error();
    int failed = frame_since_reconnect_ ? 0 : failed_reconnects_ + 1;
    const auto give_up = [&](const std::string& last) {
      return Error("stream lost", path_,
                   cause + " after frame " + std::to_string(index_) + "; " + std::to_string(failed) +
                       " attempts to reconnect failed, the last: " + last);
    };
    if (opt_.live.reconnect > 0 && failed >= opt_.live.reconnect)
      throw give_up("connected, but lost again before a frame came (" + cause + ")");
    av_frame_unref(frame_.get());  // (a device frame holds its decoder's surface)
    corrupt_before_ += decoder_->packets_corrupt();
    decoder_.reset();
    demuxer_.reset();
    recv_.clear();
    index_ += skipped_numbers_.flush();  // (the closed decoder's frames are all out)
    std::fprintf(stderr, "vidinfer: %s: stream lost after frame %lld (%s): reconnecting\n", shown_input(path_).c_str(),
                 static_cast<long long>(index_), cause.c_str());
    double backoff = std::min(8.0, std::ldexp(0.5, failed));
    // An attempt that itself waited (a UDP socket listening for a sender until the open deadline)
    // counts towards the back-off: a listener is not left closed longer than the back-off says.
    auto attempt_began = std::chrono::steady_clock::now();
    for (int failed = 0;;) {
      const auto wake = attempt_began + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                            std::chrono::duration<double>(backoff));
      while (std::chrono::steady_clock::now() < wake && !*stop_ && !duration_passed())
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (*stop_) return false;
      if (duration_passed()) {
        finished_ = true;
        return false;
      }
      try {
        attempt_began = std::chrono::steady_clock::now();
        open();
        break;
      } catch (const Error& e) {
        ++failed;
        if (*stop_) return false;
        if (opt_.live.reconnect > 0 && failed >= opt_.live.reconnect) throw give_up(e.cause().empty() ? e.what() : e.cause());
        backoff = std::min(8.0, backoff * 2);
      }
    }
    failed_reconnects_ = failed;
    frame_since_reconnect_ = false;
    ++done_.summary.live->reconnects;
    decoder_open_gap_ = true;
    lag_.reset();  // a new connection: its own clock
    std::fprintf(stderr, "vidinfer: %s: reconnected; frame numbering goes on from %lld\n", shown_input(path_).c_str(),
                 static_cast<long long>(index_));
    return true;
  }

  // One connection's packets (a file's, or a live input's until it is lost).
  void decode_connection() {
    Demuxer& demux = *demuxer_;
    auto pkt = make_av_packet();
    while (!finished_ && !*stop_) {
      bool more;
      {
        ScopedTimer timer(w_.times.demux);
        more = demux.read(pkt.get());
      }
      if (!more) {
        eof_ = true;
        break;
      }
      if (live_) {
        received(pkt.get());
        if (behind(pkt.get())) continue;  // skipped to catch up (LiveOptions::max_lag)
      }
      if (job_.start_key != AV_NOPTS_VALUE && start_pts_ == AV_NOPTS_VALUE) {
        // The seek may land on an earlier keyframe: the segment starts at its own.
        if (!(pkt->flags & AV_PKT_FLAG_KEY) || demux.key_timestamp(pkt.get()) < job_.start_key) continue;
        if (pkt->pts == AV_NOPTS_VALUE) throw Error("cannot decode in segments", path_, "keyframe without a timestamp");
        start_pts_ = pkt->pts;
      }
      if (job_.end_key != AV_NOPTS_VALUE) {
        if (!past_end_key_ && (pkt->flags & AV_PKT_FLAG_KEY) && demux.key_timestamp(pkt.get()) >= job_.end_key) {
          // The next segment's keyframe: it is decoded here too, with the pictures that follow it
          // in decode order but come before it (open GOP), and then this segment is complete.
          past_end_key_ = true;
          end_pts_ = pkt->pts;
          if (end_pts_ == AV_NOPTS_VALUE) throw Error("cannot decode in segments", path_, "keyframe without a timestamp");
        } else if (past_end_key_ && (pkt->pts == AV_NOPTS_VALUE || pkt->pts >= end_pts_)) {
          eof_ = true;
          break;
        }
      }
      {
        ScopedTimer timer(w_.times.decode);
        decoder_->send(pkt.get());
      }
      drain();
      if (const std::string why = decoder_->refused(); !why.empty())  // only with --decoder gpu
        throw Error("cannot decode on the GPU", path_,
                    why + ", after frame " + std::to_string(index_) + " (--decoder gpu: no CPU fallback)");
    }
    if (!finished_ && !*stop_) {
      {
        ScopedTimer timer(w_.times.decode);
        decoder_->send(nullptr);
      }
      drain();
    }
  }

  // A live packet's arrival: its wall-clock time, kept by timestamp until its frame comes out; the
  // time without data before it when it is the first after a reconnect.
  void received(const AVPacket* pkt) {
    const auto now = std::chrono::steady_clock::now();
    if (last_packet_ != std::chrono::steady_clock::time_point{} && decoder_open_gap_) {
      const double gap = std::chrono::duration<double>(now - last_packet_).count();
      done_.summary.live->gap_seconds += gap;
      gap_before_ += gap;  // on the next frame handed to the model
    }
    decoder_open_gap_ = false;
    last_packet_ = now;
    if (pkt->pts == AV_NOPTS_VALUE) return;
    double at = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    // A paced file's packet arrived when it was due, even if this thread read it later (busy making
    // its decoder, or behind): a camera's packet would have waited in the socket meanwhile.
    if (const auto due = demuxer_->paced_due(); due != std::chrono::steady_clock::time_point{} && due < now)
      at -= std::chrono::duration<double>(now - due).count();
    recv_[pkt->pts] = at;
    if (recv_.size() > 512) recv_.erase(recv_.begin());
    if (duration_passed()) finished_ = true;
  }

  // Whether this live packet is skipped because the stream's reader fell more than
  // LiveOptions::max_lag behind the stream's pace (LiveLag says how that is told): each counted as a
  // frame received and dropped, its number given to no frame (SkippedNumbers says where it goes).
  // Done before the decoder, so that it relieves a decoder that cannot keep up as well as the model.
  bool behind(const AVPacket* pkt) {
    if (opt_.live.drop != LiveDrop::WhenFull) return false;
    const int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    const double read_at = std::chrono::duration<double>(last_packet_.time_since_epoch()).count();
    if (ts == AV_NOPTS_VALUE || !lag_.skip(read_at, demuxer_->to_seconds(ts), pkt->flags & AV_PKT_FLAG_KEY)) {
      skipped_numbers_.passed(known(pkt->pts));
      return false;
    }
    skipped_numbers_.skipped(known(pkt->pts));
    ++done_.summary.live->frames_dropped;
    ++done_.summary.live->frames_received;  // (not decoded: the decoded ones are added at the end)
    return true;
  }

  // When the frame with timestamp ts arrived (now, when its packet had none).
  double receive_time(int64_t ts) {
    auto it = recv_.find(ts);
    if (it == recv_.end())
      return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    const double t = it->second;
    recv_.erase(recv_.begin(), std::next(it));
    return t;
  }

  // The frames the decoder has ready.
  void drain() {
    while (!finished_ && !*stop_) {
      bool got;
      {
        ScopedTimer timer(w_.times.decode);
        got = decoder_->receive(frame_.get());
      }
      if (!got) break;
      finished_ = !take();
    }
  }

  // Handles one decoded frame; false once the selection is exhausted.
  bool take() {
    const AVFrame* frame = frame_.get();
    const int64_t ts = frame->best_effort_timestamp;
    if (segmented_ && ts != AV_NOPTS_VALUE &&
        ((start_pts_ != AV_NOPTS_VALUE && ts < start_pts_) || (end_pts_ != AV_NOPTS_VALUE && ts >= end_pts_)))
      return true;  // another segment's frame (leading pictures of an open GOP, decoded for reference)
    const StreamInfo& st = demuxer_->stream();
    const double pts = ts != AV_NOPTS_VALUE ? demuxer_->to_seconds(ts) : last_pts_ + frame_dur_;
    last_pts_ = pts;
    if (live_) {
      index_ += skipped_numbers_.before(known(ts));
      frame_since_reconnect_ = true;
    }
    const int64_t this_index = index_++;
    if (t_first_ < 0) t_first_ = seconds_since(t0_);
    ++done_.summary.frames_decoded;
    const double t = pts - st.start_time;
    const FrameSelection& sel = opt_.selection;
    // (A live stream's start time is the first timestamp its demuxer saw: the B-frames that follow a
    // keyframe without one come before it, and are the stream's frames all the same.)
    if (t < sel.start - 1e-9 && !(live_ && sel.start <= 0)) return true;
    if (t >= sel.end - 1e-9) return false;
    if (in_range_++ % sel.every != 0) return true;
    ++done_.selected;
    if (live_ && !opt_.skip_preprocess && opt_.live.drop == LiveDrop::WhenFull &&
        !ctx_.batcher.wait_for_room(is_device_frame(frame) ? Batcher::kDevice : Batcher::kHost, opt_.live.max_batch_wait,
                                    *stop_)) {
      ++done_.summary.live->frames_dropped;  // the model is behind: no slot came free in time
      return true;
    }
    if (!opt_.skip_preprocess) {
      ScopedTimer timer(w_.times.preprocess);
      Slot s;
      if (live_) {
        s.received = receive_time(ts);
        s.gap_before = std::exchange(gap_before_, 0.0);
      }
      s.input = job_.input;
      s.segment = job_.segment;
      s.frame_index = this_index;
      s.pts = pts;
      s.expected_frames = expected_;
      to_slot(s);
    }
    ++processed_;
    return sel.max_frames < 0 || processed_ < sel.max_frames;
  }

  // Preprocesses the current frame into a slot of the batcher's batch.
  void to_slot(Slot& s) {
    const bool device_frame = is_device_frame(frame_.get());
    const Batcher::Lane frame_lane = device_frame ? Batcher::kDevice : Batcher::kHost;
    // The decoder went over from the GPU to the CPU part-way: this job's device-lane frames go out
    // before its first host-lane frame, so that the input's frames stay in order.
    if (lane_ == Batcher::kDevice && frame_lane == Batcher::kHost) ctx_.batcher.flush(Batcher::kDevice);
    lane_ = frame_lane;
    const Batcher::Claim c = ctx_.batcher.claim(lane_);
    try {
      if (device_frame) {
        const int p = c.open->batch.pool_index;
        // Do not overwrite the tensor before the model has finished reading it.
        cuda::wait(stream_, ctx_.pool.done[p]);
        s.geometry = w_.gpre.run(frame_.get(), reinterpret_cast<uintptr_t>(c.open->batch.data.data_ptr()) + c.k * slot_bytes_,
                                 stream_, turn_);
        ctx_.pool.written[w_.id][p].record(stream_);
      } else {
        s.geometry = w_.pre.run(frame_.get(), c.open->batch.data[c.k].data_ptr<float>(), turn_);
      }
    } catch (...) {
      s.valid = false;
      ctx_.batcher.commit(lane_, c, s, w_.id);
      throw;
    }
    ctx_.batcher.commit(lane_, c, s, w_.id);
  }

  // The job's end: halted, warnings, or nothing decoded. (A live input whose reconnect was cut short
  // by the run's end or its duration has no demuxer or decoder left.)
  void finish_decoding() {
    const bool halted = !finished_ && (!eof_ || *stop_);  // cut short by cancel() or --on-error fail
    done_.summary.packets_corrupt = corrupt_before_ + (decoder_ ? decoder_->packets_corrupt() : 0);
    if (decoder_) done_.summary.decoder = decoder_->name() + note_;  // again: the GPU decoder may have handed over
    t_last_ = seconds_since(t0_);
    if (halted) {
      done_.halted = true;
      throw Error(ctx_.cancelled ? "interrupted" : "stopped after an earlier failure (--on-error fail)", path_,
                  std::to_string(index_) + " frames decoded");
    }
    const std::string read_error = demuxer_ ? demuxer_->read_error() : std::string();
    if (done_.summary.frames_decoded == 0) {  // (one line: the read error is named here, not warned of too)
      std::string cause = "no frame could be decoded";
      if (done_.summary.packets_corrupt) cause += " (" + std::to_string(done_.summary.packets_corrupt) + " corrupt packets)";
      if (!read_error.empty()) cause += " (read error: " + read_error + ")";
      throw Error("decoding failed", path_, cause);
    }
    if (!read_error.empty() && !finished_)
      done_.summary.warning = live_                      ? "stream lost after frame " + std::to_string(index_) + ": " +
                                                               read_error + " (frames before it were kept)"
                              : src_.kind() == InputSource::Kind::File
                                  ? "read error after frame " + std::to_string(index_) + ": " + read_error +
                                        " (file truncated or damaged; frames before it were kept)"
                                  : "read error after frame " + std::to_string(index_) + ": " + read_error +
                                        " (connection lost, or the recording is truncated; frames before it were kept)";
  }

  // The summary to the batcher; the decoder and demuxer closed beside the next job's work.
  void close() {
    frame_.reset();  // (a device frame holds its decoder's surface: released before the decoder goes)
    // --on-error fail: decided here, where the failure is seen, so later inputs are never started.
    if (done_.summary.status == InputStatus::Failed && opt_.stop_on_error) *stop_ = true;
    done_.summary.seconds = seconds_since(t0_);
    done_.t_end = done_.t_start + done_.summary.seconds;
    // Closing a hardware decoder takes up to ~0.2 s: do it beside the next job's work.
    if (w_.reaper.joinable()) w_.reaper.join();
    w_.reaper = std::thread([d = std::move(decoder_), m = std::move(demuxer_)]() mutable {
      d.reset();
      m.reset();
#if defined(__GLIBC__) && !defined(VIDINFER_SANITIZER_ALLOCATOR)
      // Hand the input's freed buffers back to the system, so that host memory stays flat over
      // long runs of many inputs instead of creeping up with heap fragmentation.
      malloc_trim(0);
#endif
    });
    if (opt_.tuning.trace > 0)
      std::fprintf(stderr, "vidinfer trace: %s [%d/%d]: started at %.1f ms; opened %.1f ms, first frame %.1f ms, last frame %.1f ms, finished %.1f ms\n",
                   path_.c_str(), job_.segment + 1, job_.segments, done_.t_start * 1e3, t_open_ * 1e3, t_first_ * 1e3,
                   t_last_ * 1e3, done_.summary.seconds * 1e3);
    ctx_.batcher.job_done(lane_, std::move(done_));
  }

  const Job& job_;
  const std::string& path_;
  const InputSource& src_;
  WorkerState& w_;
  const JobContext& ctx_;
  const RunOptions& opt_;
  std::atomic<bool>* stop_ = &ctx_.stop;
  const bool segmented_;
  std::chrono::steady_clock::time_point t0_;
  int64_t slot_bytes_ = 0;
  JobDone done_;
  Batcher::Lane lane_ = Batcher::kNone;
  std::unique_ptr<Demuxer> demuxer_;
  std::unique_ptr<Decoder> decoder_;
  UniqueAVFrame frame_ = make_av_frame();
  std::string note_;
  uintptr_t stream_ = 0;
  int turn_ = 0;
  double frame_dur_ = 0, expected_ = 0, last_pts_ = 0;
  double t_open_ = 0, t_first_ = -1, t_last_ = 0;
  int64_t index_ = 0, in_range_ = 0, processed_ = 0;
  bool finished_ = false, eof_ = false;
  // A segment's range of presentation timestamps, [start_pts, end_pts), in the stream's time base;
  // end_pts is known once the next segment's keyframe has been read.
  int64_t start_pts_ = AV_NOPTS_VALUE, end_pts_ = AV_NOPTS_VALUE;
  bool past_end_key_ = false;
  // Live inputs.
  bool live_;                 // (false once a URL or pipe turns out to carry a recording)
  bool opened_once_ = false;  // (that is decided at the first opening only)
  std::chrono::steady_clock::time_point until_{};        // LiveOptions::duration's end; none: no limit
  std::chrono::steady_clock::time_point last_packet_{};  // when the last packet came
  bool decoder_open_gap_ = false;                         // reconnected: the next packet ends the gap
  double gap_before_ = 0;  // seconds of gap not yet reported on a frame (Slot::gap_before)
  LiveLag lag_{opt_.live.max_lag};  // LiveOptions::max_lag (this connection's)
  SkippedNumbers skipped_numbers_;  // the numbers of the frames LiveLag skipped
  std::map<int64_t, double> recv_;                       // packet pts -> arrival (Unix seconds)
  int64_t corrupt_before_ = 0;                            // corrupt packets of the connections before
  int failed_reconnects_ = 0;          // reconnect attempts in a row that failed (reconnect())
  bool frame_since_reconnect_ = true;  // whether a frame came since the last reconnect
};

}  // namespace

void run_job(const Job& job, const InputSource& input, WorkerState& w, const JobContext& ctx) {
  JobRun(job, input, w, ctx).run();
}

}  // namespace vidinfer
