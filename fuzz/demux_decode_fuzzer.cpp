// libFuzzer target: a file's bytes through everything vidinfer does with them on the CPU path,
// the way the pipeline's producer does it (src/pipeline/pipeline.cpp): the in-memory Demuxer,
// the libavcodec decoder (send / receive / drain at end of stream, corrupt packets counted), and the
// CPU preprocessor (swscale colour conversion and resize into a model batch) in two resize modes.
//
// What counts as a bug: any crash, sanitizer report, hang, or exception that is not a
// vidinfer::Error (every failure reaching a caller must be one), or an error message that is not one
// line. vidinfer::Error itself is the expected outcome for bad bytes.
//
// Only our code is instrumented for coverage (Debian's FFmpeg is not), so the fuzzer steers by the
// paths through our code; FFmpeg's own memory errors show only where ASan's interceptors see them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "common/av.h"
#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "preprocess/cpu_preprocessor.h"
#include "vidinfer/error.h"

namespace {

// Bounds one input's work so the fuzzer spends its time on variety, not on long clips.
constexpr int kMaxPackets = 400;
constexpr int kMaxFrames = 64;

vidinfer::ModelSpec spec(int w, int h, vidinfer::ResizeMode mode) {
  vidinfer::ModelSpec s;
  s.width = w;
  s.height = h;
  s.resize = mode;
  return s;
}

void check_one_line(const vidinfer::Error& e) {
  const std::string m = e.what();
  if (m.find('\n') != std::string::npos || m.empty()) {
    std::fprintf(stderr, "error message is not one line: [%s]\n", m.c_str());
    std::abort();
  }
}

void run(std::span<const uint8_t> bytes) {
  vidinfer::Demuxer demux("fuzz-input", bytes);
  auto decoder = vidinfer::make_cpu_decoder(demux.stream(), demux.path(), 1);
  vidinfer::CpuPreprocessor stretch(spec(32, 24, vidinfer::ResizeMode::Stretch));
  vidinfer::CpuPreprocessor letterbox(spec(40, 40, vidinfer::ResizeMode::Letterbox));
  std::vector<float> out(3 * 40 * 40);
  auto pkt = vidinfer::make_av_packet();
  auto frame = vidinfer::make_av_frame();
  int frames = 0;
  auto drain = [&] {
    while (frames < kMaxFrames && decoder->receive(frame.get())) {
      (frames++ % 2 ? letterbox : stretch).run(frame.get(), out.data());
      (void)demux.to_seconds(frame->best_effort_timestamp);
    }
  };
  for (int n = 0; n < kMaxPackets && frames < kMaxFrames && demux.read(pkt.get()); ++n) {
    decoder->send(pkt.get());
    drain();
  }
  decoder->send(nullptr);
  drain();
  (void)decoder->packets_corrupt();
  (void)demux.read_error();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  av_log_set_level(AV_LOG_QUIET);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    run({data, size});
  } catch (const vidinfer::Error& e) {
    check_one_line(e);
  }
  return 0;
}
