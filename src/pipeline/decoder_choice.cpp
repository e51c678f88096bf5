#include "pipeline/decoder_choice.h"

#include "decode/nvdec_caps.h"
#include "preprocess/geometry.h"
#include "vidinfer/error.h"

namespace vidinfer {

DecoderChoiceFor::DecoderChoiceFor(const RunOptions& opt, int device, bool gpu_path)
    : opt_(opt), device_(device), gpu_path_(gpu_path) {}

std::optional<NvdecOptions> DecoderChoiceFor::nvdec_options(const StreamInfo& st, std::string& note) const {
  // A pixel format FFmpeg could not tell (no software decoder for the codec here) is taken as 4:2:0;
  // the NVDEC parser reads the real one from the bitstream and refuses others.
  const auto fmt = static_cast<AVPixelFormat>(st.codecpar->format);
  const GpuDecodeSupport s = nvdec_supports(st.codecpar->codec_id, fmt == AV_PIX_FMT_NONE ? AV_PIX_FMT_YUV420P : fmt,
                                            st.codecpar->width, st.codecpar->height, device_);
  if (!s.supported) {
    note = s.reason;
    return std::nullopt;
  }
  NvdecOptions o;
  o.device = device_;
  o.high_priority_stream = opt_.tuning.stream_priority == StreamPriority::Preprocess;
  o.trace = opt_.tuning.trace > 0;
  if (opt_.nvdec_resize) {
    // Each sequence decoded to its frames' scaled size, unturned (geometry.h), as far as NVDEC can.
    const int turn = opt_.apply_rotation ? display_turn(st.rotation) : 0;
    o.target_size = [spec = opt_.spec, turn](int w, int h) { return nvdec_target_size(plan_geometry(w, h, spec, turn)); };
    if (st.codecpar->width > 0 && st.codecpar->height > 0) {  // the summary says what to expect
      std::string why;
      const auto [tw, th] = nvdec_target_size(plan_geometry(st.codecpar->width, st.codecpar->height, opt_.spec, turn), &why);
      note = why.empty() ? "; NVDEC resizes to " + std::to_string(tw) + "x" + std::to_string(th)
                         : "; NVDEC does not resize: " + why;
    }
  }
  return o;
}

std::unique_ptr<Decoder> DecoderChoiceFor::open(const StreamInfo& st, const std::string& path, std::string& note,
                                                bool live) const {
  if (!gpu_path_) return make_cpu_decoder(st, path, opt_.decode_threads, live);
  std::string why;
  if (auto nvdec = nvdec_options(st, why)) {
    note = why;
    nvdec->low_delay = live;
    auto gpu = make_nvdec_decoder(st, path, *nvdec);
    if (opt_.decoder == DecoderChoice::Gpu) return gpu;  // a refusal part-way fails the input (see JobRun)
    // A stream that changes part-way to something NVDEC cannot take (4:4:4, a size beyond its
    // limits) goes on on the CPU decoder from there.
    return with_fallback(std::move(gpu), [this, &st, &path, live] { return make_cpu_decoder(st, path, opt_.decode_threads, live); });
  }
  if (opt_.decoder == DecoderChoice::Gpu) throw Error("cannot decode on the GPU", path, why);
  note = "; GPU decoder not used: " + why;
  return make_cpu_decoder(st, path, opt_.decode_threads, live);
}

}  // namespace vidinfer
