// Whether this machine's NVDEC can decode a stream, asked of the driver (cuvidGetDecoderCaps).
// The driver libraries are loaded at run time, so this answers "no" with a reason on machines
// without an NVIDIA driver instead of failing to start. Thread-safe; the driver is asked once per
// (codec, chroma, depth) and the answer cached.
#pragma once

#include <string>

extern "C" {
#include <libavcodec/codec_id.h>
#include <libavutil/pixfmt.h>
}

namespace vidinfer {

struct GpuDecodeSupport {
  bool supported = false;
  std::string reason;  // why not; or "NVDEC on <GPU name>" when supported
};

// Asked of CUDA device `device`.
GpuDecodeSupport nvdec_supports(AVCodecID codec, AVPixelFormat format, int width, int height, int device = 0);

// How many NVDEC engines CUDA device `device` has (the driver's nNumNVDECs for 8-bit 4:2:0 H.264);
// 0 when there is no driver or it does not say.
int nvdec_engine_count(int device = 0);

}  // namespace vidinfer
