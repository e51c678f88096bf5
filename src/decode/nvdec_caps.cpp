// This translation unit includes ffnvcodec's loader: it must not include cuda.h or LibTorch headers
// (ffnvcodec redeclares the CUDA driver types).
#include "decode/nvdec_caps.h"

#include <map>
#include <mutex>
#include <tuple>

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "decode/nvdec_driver.h"

namespace vidinfer {

GpuDecodeSupport nvdec_supports(AVCodecID codec, AVPixelFormat format, int width, int height, int device) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int, int>, std::pair<CUVIDDECODECAPS, std::string>> cache;

  const char* codec_name = avcodec_get_name(codec);
  cudaVideoCodec cv_codec;
  if (!nvdec::to_cuvid_codec(codec, cv_codec))
    return {false, std::string("NVDEC does not decode ") + (codec_name ? codec_name : "this codec")};
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(format);
  if (!d) return {false, "unknown pixel format"};
  if (d->flags & AV_PIX_FMT_FLAG_RGB) return {false, std::string("RGB pixel format ") + d->name};
  cudaVideoChromaFormat chroma;
  if (d->nb_components == 1) chroma = cudaVideoChromaFormat_Monochrome;
  else if (d->log2_chroma_w == 1 && d->log2_chroma_h == 1) chroma = cudaVideoChromaFormat_420;
  else if (d->log2_chroma_w == 1 && d->log2_chroma_h == 0) chroma = cudaVideoChromaFormat_422;
  else if (d->log2_chroma_w == 0 && d->log2_chroma_h == 0) chroma = cudaVideoChromaFormat_444;
  else return {false, std::string("chroma layout of ") + d->name + " is not decodable by NVDEC"};
  const int depth = d->comp[0].depth;

  std::lock_guard lock(mu);
  auto key = std::make_tuple(device, static_cast<int>(cv_codec), static_cast<int>(chroma), depth);
  auto it = cache.find(key);
  std::string why;
  nvdec::Driver* driver = nvdec::Driver::get(&why);
  if (!driver) return {false, why};
  if (it == cache.end()) {
    CUVIDDECODECAPS caps{};
    caps.eCodecType = cv_codec;
    caps.eChromaFormat = chroma;
    caps.nBitDepthMinus8 = depth > 8 ? depth - 8 : 0;
    std::string err;
    try {
      nvdec::ContextScope scope(driver->primary_context(device));
      const CUresult rc = driver->cv()->cuvidGetDecoderCaps(&caps);
      if (rc != CUDA_SUCCESS) err = "cuvidGetDecoderCaps failed: " + nvdec::error_text(rc);
    } catch (const std::exception& e) {
      err = e.what();
    }
    it = cache.emplace(key, std::make_pair(caps, err)).first;
  }
  const auto& [caps, err] = it->second;
  if (!err.empty()) return {false, err};
  const std::string what = std::string(codec_name) + " " + d->name;
  if (!caps.bIsSupported) return {false, "NVDEC on " + driver->device_name(device) + " does not support " + what};
  if (width > static_cast<int>(caps.nMaxWidth) || height > static_cast<int>(caps.nMaxHeight) ||
      static_cast<unsigned>(((width + 15) / 16) * ((height + 15) / 16)) > caps.nMaxMBCount)
    return {false, std::to_string(width) + "x" + std::to_string(height) + " exceeds NVDEC's limit " +
                       std::to_string(caps.nMaxWidth) + "x" + std::to_string(caps.nMaxHeight) + " for " + what};
  if (width < caps.nMinWidth || height < caps.nMinHeight)
    return {false, std::to_string(width) + "x" + std::to_string(height) + " is below NVDEC's minimum " +
                       std::to_string(caps.nMinWidth) + "x" + std::to_string(caps.nMinHeight)};
  return {true, "NVDEC on " + driver->device_name(device) + " (" + std::to_string(caps.nNumNVDECs) + " engines)"};
}

int nvdec_engine_count(int device) {
  if (!nvdec_supports(AV_CODEC_ID_H264, AV_PIX_FMT_YUV420P, 64, 64, device).supported) return 0;
  static std::mutex mu;
  static std::map<int, int> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(device); it != cache.end()) return it->second;
  int n = 0;
  if (nvdec::Driver* driver = nvdec::Driver::get(nullptr)) {
    CUVIDDECODECAPS caps{};
    caps.eCodecType = cudaVideoCodec_H264;
    caps.eChromaFormat = cudaVideoChromaFormat_420;
    try {
      nvdec::ContextScope scope(driver->primary_context(device));
      if (driver->cv()->cuvidGetDecoderCaps(&caps) == CUDA_SUCCESS && caps.bIsSupported) n = caps.nNumNVDECs;
    } catch (const std::exception&) {
    }
  }
  cache[device] = n;
  return n;
}

}  // namespace vidinfer
