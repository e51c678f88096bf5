// NVDEC sessions made ahead of a run, on a thread of its own, while the model loads and warms up.
// The driver makes one session at a time, ~45 ms each (more while other sessions decode): made in the
// run, the 8th of 8 decoders started ~0.8 s after the first, the others running short of work for the
// model meanwhile. The sessions made here are left with the kept ones (NvdecSessionKeeper, which the
// caller must hold for as long as this object lives, and longer), and the run's decoders take them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "decode/decoder.h"
#include "demux/demuxer.h"

namespace vidinfer {

class NvdecSessionPreparer {
 public:
  struct Input {
    std::string path;  // a local file (the caller leaves out what is not: a network source may take long to answer)
    int sessions = 1;  // how many decoders of it the run will start at once
  };
  // The NVDEC options for a stream when NVDEC takes it, else nullopt (DecoderChoiceFor::nvdec_options).
  using Takes = std::function<std::optional<NvdecOptions>(const StreamInfo&)>;

  NvdecSessionPreparer() = default;  // nothing to prepare
  // Starts the thread. The inputs are opened at once, each on a thread of its own (reading a file's
  // header and first frames took ~55 ms for our 1080p H.264 clip, longer than making its session),
  // and their sessions made in order as they open. An input that does not open, or that NVDEC does
  // not take, is skipped: its job reports it in the run. trace: one line per input on stderr.
  NvdecSessionPreparer(std::vector<Input> inputs, Takes takes, bool trace);
  // Joins the thread (asking it to stop before its next input).
  ~NvdecSessionPreparer() = default;
  NvdecSessionPreparer(NvdecSessionPreparer&&) = default;
  NvdecSessionPreparer& operator=(NvdecSessionPreparer&&) = default;

  // Waits until every session is made (the start of a run).
  void wait();

 private:
  static void prepare(const std::vector<Input>& inputs, const Takes& takes, bool trace, double t0,
                      const std::stop_token& stop);
  bool trace_ = false;
  std::jthread thread_;
};

}  // namespace vidinfer
