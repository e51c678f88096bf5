// This translation unit includes ffnvcodec's loader: it must not include cuda.h or LibTorch headers
// (ffnvcodec redeclares the CUDA driver types).
#include "decode/nvdec_caps.h"

#include <map>
#include <mutex>
#include <tuple>

extern "C" {
#include <libavutil/pixdesc.h>
}

#define FFNV_LOG_FUNC(logctx, msg, ...) ((void)0)
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...) ((void)0)
#include <ffnvcodec/dynlink_loader.h>

namespace vidinfer {
namespace {

std::string cu_error(CudaFunctions* cu, CUresult rc) {
  const char* name = nullptr;
  if (cu && cu->cuGetErrorName) cu->cuGetErrorName(rc, &name);
  return name ? name : "CUDA error " + std::to_string(static_cast<int>(rc));
}

// The driver, loaded once for the process. Holds a context on device 0 for capability queries.
class Driver {
 public:
  Driver() {
    if (cuda_load_functions(&cu_, nullptr) < 0 || !cu_) {
      error_ = "no NVIDIA driver on this machine (libcuda.so.1 not found)";
      return;
    }
    if (cuvid_load_functions(&cv_, nullptr) < 0 || !cv_) {
      error_ = "the NVIDIA driver has no video decoder library (libnvcuvid.so.1 not found)";
      return;
    }
    CUresult rc = cu_->cuInit(0);
    if (rc != CUDA_SUCCESS) {
      error_ = "CUDA driver initialisation failed: " + cu_error(cu_, rc);
      return;
    }
    int count = 0;
    rc = cu_->cuDeviceGetCount(&count);
    if (rc != CUDA_SUCCESS || count == 0) {
      error_ = "no CUDA device present";
      return;
    }
    CUdevice dev = 0;
    cu_->cuDeviceGet(&dev, 0);
    char name[256] = {};
    cu_->cuDeviceGetName(name, sizeof name, dev);
    gpu_name_ = name;
    rc = cu_->cuCtxCreate(&ctx_, 0, dev);
    if (rc != CUDA_SUCCESS) {
      error_ = "cannot create a CUDA context: " + cu_error(cu_, rc);
      ctx_ = nullptr;
      return;
    }
    CUcontext dummy = nullptr;
    cu_->cuCtxPopCurrent(&dummy);
  }
  ~Driver() {
    if (ctx_) cu_->cuCtxDestroy(ctx_);
    cuvid_free_functions(&cv_);
    cuda_free_functions(&cu_);
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Fills caps; returns an error text or "".
  std::string caps(CUVIDDECODECAPS& caps) {
    if (!error_.empty()) return error_;
    cu_->cuCtxPushCurrent(ctx_);
    const CUresult rc = cv_->cuvidGetDecoderCaps(&caps);
    CUcontext dummy = nullptr;
    cu_->cuCtxPopCurrent(&dummy);
    return rc == CUDA_SUCCESS ? "" : "cuvidGetDecoderCaps failed: " + cu_error(cu_, rc);
  }
  const std::string& gpu_name() const { return gpu_name_; }

 private:
  CudaFunctions* cu_ = nullptr;
  CuvidFunctions* cv_ = nullptr;
  CUcontext ctx_ = nullptr;
  std::string error_;
  std::string gpu_name_;
};

bool to_cuvid_codec(AVCodecID id, cudaVideoCodec& out) {
  switch (id) {
    case AV_CODEC_ID_H264: out = cudaVideoCodec_H264; return true;
    case AV_CODEC_ID_HEVC: out = cudaVideoCodec_HEVC; return true;
    case AV_CODEC_ID_VP9: out = cudaVideoCodec_VP9; return true;
    case AV_CODEC_ID_AV1: out = cudaVideoCodec_AV1; return true;
    case AV_CODEC_ID_VP8: out = cudaVideoCodec_VP8; return true;
    case AV_CODEC_ID_MPEG1VIDEO: out = cudaVideoCodec_MPEG1; return true;
    case AV_CODEC_ID_MPEG2VIDEO: out = cudaVideoCodec_MPEG2; return true;
    case AV_CODEC_ID_MPEG4: out = cudaVideoCodec_MPEG4; return true;
    case AV_CODEC_ID_VC1: out = cudaVideoCodec_VC1; return true;
    case AV_CODEC_ID_MJPEG: out = cudaVideoCodec_JPEG; return true;
    default: return false;
  }
}

}  // namespace

GpuDecodeSupport nvdec_supports(AVCodecID codec, AVPixelFormat format, int width, int height) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int>, std::pair<CUVIDDECODECAPS, std::string>> cache;

  const char* codec_name = avcodec_get_name(codec);
  cudaVideoCodec cv_codec;
  if (!to_cuvid_codec(codec, cv_codec))
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
  static Driver driver;  // loaded on first use, for the process's lifetime
  auto key = std::make_tuple(static_cast<int>(cv_codec), static_cast<int>(chroma), depth);
  auto it = cache.find(key);
  if (it == cache.end()) {
    CUVIDDECODECAPS caps{};
    caps.eCodecType = cv_codec;
    caps.eChromaFormat = chroma;
    caps.nBitDepthMinus8 = depth > 8 ? depth - 8 : 0;
    std::string err = driver.caps(caps);
    it = cache.emplace(key, std::make_pair(caps, err)).first;
  }
  const auto& [caps, err] = it->second;
  if (!err.empty()) return {false, err};
  const std::string what = std::string(codec_name) + " " + d->name;
  if (!caps.bIsSupported) return {false, "NVDEC on " + driver.gpu_name() + " does not support " + what};
  if (width > static_cast<int>(caps.nMaxWidth) || height > static_cast<int>(caps.nMaxHeight) ||
      static_cast<unsigned>(((width + 15) / 16) * ((height + 15) / 16)) > caps.nMaxMBCount)
    return {false, std::to_string(width) + "x" + std::to_string(height) + " exceeds NVDEC's limit " +
                       std::to_string(caps.nMaxWidth) + "x" + std::to_string(caps.nMaxHeight) + " for " + what};
  if (width < caps.nMinWidth || height < caps.nMinHeight)
    return {false, std::to_string(width) + "x" + std::to_string(height) + " is below NVDEC's minimum " +
                       std::to_string(caps.nMinWidth) + "x" + std::to_string(caps.nMinHeight)};
  return {true, "NVDEC on " + driver.gpu_name() + " (" + std::to_string(caps.nNumNVDECs) + " engines)"};
}

}  // namespace vidinfer
