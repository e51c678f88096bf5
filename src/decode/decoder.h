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
#include <memory>
#include <string>

#include "common/av.h"

namespace vidinfer {

struct StreamInfo;

class Decoder {
 public:
  virtual ~Decoder() = default;
  // One packet, or nullptr at the end of the stream. Throws vidinfer::Error only on failures that
  // end the input (out of memory, decoder gone); corrupt data is counted in packets_corrupt().
  virtual void send(const AVPacket* pkt) = 0;
  // The next frame into `out` (unreferenced first). False: needs more input, or fully drained.
  virtual bool receive(AVFrame* out) = 0;
  // "cpu (libavcodec h264, 2 threads)": what ran, for the summary.
  virtual std::string name() const = 0;
  virtual int64_t packets_corrupt() const = 0;
};

// The libavcodec decoder for the stream; threads = 0 lets libavcodec use all cores.
// Throws vidinfer::Error naming `input` when the codec has no decoder here.
std::unique_ptr<Decoder> make_cpu_decoder(const StreamInfo& stream, const std::string& input, int threads);

}  // namespace vidinfer
