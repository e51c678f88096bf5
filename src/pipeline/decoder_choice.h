// Which decoder reads an input: NVDEC when the run is on the GPU path and NVDEC takes the stream,
// else libavcodec (with the reason in the summary), as RunOptions::decoder asks. One per Engine (the
// NVDEC sessions are on its device). Thread-safe (const after construction).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "vidinfer/options.h"

namespace vidinfer {

class DecoderChoiceFor {
 public:
  // gpu_path: NVDEC and the CUDA kernels are available to this run, on CUDA device `device`.
  DecoderChoiceFor(const RunOptions& opt, int device, bool gpu_path);

  // The NVDEC options for the stream when NVDEC takes it (else nullopt, `note` says why not); `note`
  // also says the size NVDEC decodes to when it resizes (RunOptions::nvdec_resize).
  std::optional<NvdecOptions> nvdec_options(const StreamInfo& st, std::string& note) const;

  // The decoder for one input. `note` gets what the summary adds to the decoder's name. Throws
  // vidinfer::Error naming `path` with DecoderChoice::Gpu when NVDEC cannot take the stream. live:
  // libavcodec decodes with low delay (make_cpu_decoder).
  std::unique_ptr<Decoder> open(const StreamInfo& st, const std::string& path, std::string& note, bool live = false) const;

  bool gpu_path() const { return gpu_path_; }

 private:
  const RunOptions& opt_;
  int device_;
  bool gpu_path_;
};

}  // namespace vidinfer
