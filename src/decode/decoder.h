// Decoder: turns a stream's packets (decode order) into frames (presentation order).
//
//   while (demuxer.read(pkt)) { dec.send(pkt); while (dec.receive(frame)) use(frame); }
//   dec.send(nullptr); while (dec.receive(frame)) use(frame);   // drain at end of stream
//
// Frames are AVFrames: system memory for the CPU decoder; the GPU decoder hands out frames whose
// planes are device pointers, so later stages see one type. Packets the decoder rejects as corrupt
// are skipped and counted, never fatal. Implementations are not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/av.h"

namespace vidinfer {

struct StreamInfo;

class Decoder {
 public:
  virtual ~Decoder() = default;
  // One packet, or nullptr at the end of the stream. Throws vidinfer::Error only on failures that
  // end the input (out of memory, decoder gone); corrupt data is counted in packets_corrupt().
  // The NVDEC decoder takes the packet's data reference (its bitstream filter does, and leaves the
  // packet blank): a caller that needs a packet again sends a new reference to it.
  virtual void send(const AVPacket* pkt) = 0;
  // The next frame into `out` (unreferenced first). False: needs more input, or fully drained.
  virtual bool receive(AVFrame* out) = 0;
  // "cpu (libavcodec h264, 2 threads)": what ran, for the summary.
  virtual std::string name() const = 0;
  virtual int64_t packets_corrupt() const = 0;
  // Why this decoder cannot go on with the stream (the GPU decoder meeting a sequence it cannot take,
  // part-way through); empty while it can. Once set, further packets are ignored; frames it gave
  // stay valid, and frames it still holds can be received.
  virtual std::string refused() const { return {}; }
  // The CUDA stream (a CUstream / cudaStream_t as an integer) that device frames are ready on; work
  // that reads a frame must be queued on it before the frame is released. 0 for host frames.
  virtual uintptr_t cuda_stream() const { return 0; }
};

// Device frames (from the NVDEC decoder): format AV_PIX_FMT_NV12 (8-bit) or AV_PIX_FMT_P016LE (10/12
// bit, samples in the high bits); data[0] the luma plane and data[1] the interleaved chroma plane,
// both device pointers with pitch linesize[0] == linesize[1]; opaque == kDeviceFrameTag. Releasing
// the frame (av_frame_unref) returns its surface to the decoder once the stream's queued work is done.
//
// A device frame may be smaller than the picture it shows: a decoder given a NvdecTargetSize decodes
// to that size (NVDEC's scaler). width and height are always the surface's, what the planes hold, so
// that nothing reads past them; shown_size() is the picture's display size, from which geometry is
// planned (boxes map back to it, results report it). The shown size travels inside the frame's buffer
// (the AVBuffer's opaque, which the decoder owns), so av_frame_ref / av_frame_move_ref keep it and no
// side channel (the decoder's current sequence, which may have moved on) is involved.
extern const char kDeviceFrameTag[];
inline bool is_device_frame(const AVFrame* f) { return f->opaque == kDeviceFrameTag; }

// The display size of the picture `f` shows: width x height, except for a device frame decoded smaller.
std::pair<int, int> shown_size(const AVFrame* f);

// For a picture of display size w x h, the size to decode it to. NVDEC's output size must be even and
// no larger than the picture; a size that is not (and an empty function) decodes at full size, as
// does a size the driver refuses when the decoder is created.
using NvdecTargetSize = std::function<std::pair<int, int>(int w, int h)>;

// The libavcodec decoder for the stream; threads = 0 lets libavcodec use all cores. low_delay (live
// inputs): slice threads only, as frame threads hold back one frame per thread before the first
// comes out (at 30 fps, ~33 ms of latency each).
// Throws vidinfer::Error naming `input` when the codec has no decoder here.
std::unique_ptr<Decoder> make_cpu_decoder(const StreamInfo& stream, const std::string& input, int threads,
                                          bool low_delay = false);
// The same with `codec` (a libavcodec decoder for the stream's codec) instead of the build's preferred
// one: tests use it to see what a build that lacks the preferred decoder would do.
std::unique_ptr<Decoder> make_cpu_decoder(const StreamInfo& stream, const std::string& input, int threads,
                                          const AVCodec* codec);

// How an NVDEC decoder works. `device`: the CUDA device, whose primary context it uses (shared with
// the CUDA runtime and LibTorch). `target_size`: decode each sequence to the size it gives for the
// sequence's display size (see NvdecTargetSize, device frames); empty: at full size.
// `high_priority_stream`: its stream (on which the preprocessing kernels run too) gets the device's
// greatest priority, so that they are served ahead of a model's queued work (measured best).
// `trace`: one line on stderr per session made or taken (for measuring).
struct NvdecOptions {
  int device = 0;
  NvdecTargetSize target_size;
  bool high_priority_stream = true;
  bool trace = false;
  // Live inputs: each picture handed on as soon as it may be shown (the parser queues none ahead;
  // files let it queue 4, so that decoding overlaps mapping: ~130 ms of latency at 30 fps).
  bool low_delay = false;
};

// The NVDEC decoder (NVCUVID, loaded at run time). Throws vidinfer::Error naming `input` when there
// is no driver or NVDEC cannot take the stream (callers check nvdec_supports() first and fall back
// to the CPU decoder).
std::unique_ptr<Decoder> make_nvdec_decoder(const StreamInfo& stream, const std::string& input,
                                            const NvdecOptions& options);

// Makes `count` NVDEC sessions for `stream` as its decoders would (same parameters, same target
// size), for a NvdecSessionKeeper to keep, so that the next `count` decoders of that format start
// without waiting for cuvidCreateDecoder: a run makes them while its model loads (see Pipeline).
// `read` gives the stream's packets from its start (false at the end): the first ones are parsed,
// without decoding a picture, until the parser has seen the first sequence. Returns the decoders
// that hold the sessions: a session goes to the kept ones when its decoder is destroyed, so hold
// all that are made for a run until the last is made (a later one would take a kept one back
// instead of making its own). Fewer than `count` when the stream's first packets hold no sequence
// NVDEC takes. *created: how many were made (the others were taken from the kept ones). Throws
// vidinfer::Error naming `input` when there is no NVDEC driver or it does not decode the codec.
std::vector<std::unique_ptr<Decoder>> prepare_nvdec_sessions(const StreamInfo& stream, const std::string& input,
                                                             const NvdecOptions& options,
                                                             const std::function<bool(AVPacket*)>& read, int count,
                                                             int* created);

// NVDEC sessions (hardware decoders) kept between inputs. Creating one costs about 45 ms, and the
// driver creates one at a time (8 decoders starting together all waited ~330 ms on an H200), and
// destroying one 100-200 ms: per input, that is most of a short clip's decode time. While a
// NvdecSessionKeeper is alive, a session that a decoder leaves behind (its stream decoded without
// errors) is kept, and the next decoder of the same format and size takes it instead of creating
// one; the last keeper to go destroys the kept ones. A run holds one (its Engine). With `reuse`
// false nothing is kept; `serial_create` makes the process create one session at a time (see
// SessionPool::make). Both are Tuning knobs, for measuring; the latest keeper's settings hold.
class NvdecSessionKeeper {
 public:
  explicit NvdecSessionKeeper(bool reuse = true, bool serial_create = true);
  ~NvdecSessionKeeper();
  NvdecSessionKeeper(const NvdecSessionKeeper&) = delete;
  NvdecSessionKeeper& operator=(const NvdecSessionKeeper&) = delete;
};

// Sessions created and sessions taken from the kept ones, since the process started (for tests and traces).
struct NvdecSessionCounts {
  int64_t created = 0, reused = 0;
};
NvdecSessionCounts nvdec_session_counts();
// The kept sessions are bounded (the oldest beyond 64 are destroyed); this raises the bound by
// `sessions` until that many have been taken again, so that every session made ahead for a run
// (NvdecSessionPreparer: one per live input, hundreds of cameras) waits for its decoder.
void nvdec_reserve_kept(int sessions);

// `first` until it refuses the stream (see Decoder::refused), then a decoder from `make_next` for the
// rest: it is given the packets again from the keyframe before the last one (so that pictures
// `first` never showed are decoded too), and its leading frames with timestamps `first` gave already
// are dropped, so that the frames come out as one decoder would give them. name() then says both and
// why. Frames change from device to host memory at the switch when `first` is the GPU decoder.
std::unique_ptr<Decoder> with_fallback(std::unique_ptr<Decoder> first,
                                       std::function<std::unique_ptr<Decoder>()> make_next);

}  // namespace vidinfer
