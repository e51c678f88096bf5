#include "decode/nvdec_driver.h"

#include <dlfcn.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include "vidinfer/error.h"

namespace vidinfer::nvdec {

Driver::Driver() {
  if (cuda_load_functions(&cu_, nullptr) < 0 || !cu_) {
    error_ = "no NVIDIA driver on this machine (libcuda.so.1 not found)";
    return;
  }
  if (cuvid_load_functions(&cv_, nullptr) < 0 || !cv_) {
    error_ = "the NVIDIA driver has no video decoder library (libnvcuvid.so.1 not found)";
    return;
  }
  const CUresult rc = cu_->cuInit(0);
  if (rc != CUDA_SUCCESS) {
    error_ = "CUDA driver initialisation failed: " + error_text(rc);
    return;
  }
  if (cu_->cuDeviceGetCount(&device_count_) != CUDA_SUCCESS || device_count_ == 0) error_ = "no CUDA device present";
  // Not in ffnvcodec's tables: looked up in the same library.
  stream_create_with_priority_ =
      reinterpret_cast<StreamCreateWithPriority>(dlsym(cu_->lib, "cuStreamCreateWithPriority"));
  get_stream_priority_range_ = reinterpret_cast<GetStreamPriorityRange>(dlsym(cu_->lib, "cuCtxGetStreamPriorityRange"));
}

CUresult Driver::create_stream(CUstream* stream, bool high_priority) const {
  int least = 0, greatest = 0;
  if (!high_priority) return cu_->cuStreamCreate(stream, CU_STREAM_NON_BLOCKING);
  if (stream_create_with_priority_ && get_stream_priority_range_ &&
      get_stream_priority_range_(&least, &greatest) == CUDA_SUCCESS)
    return stream_create_with_priority_(stream, CU_STREAM_NON_BLOCKING, greatest);
  return cu_->cuStreamCreate(stream, CU_STREAM_NON_BLOCKING);
}

Driver::~Driver() {
  if (cu_) {
    for (int i = 0; i < device_count_ && i < 16; ++i)
      if (contexts_[i]) {
        CUdevice dev = 0;
        if (cu_->cuDeviceGet(&dev, i) == CUDA_SUCCESS) cu_->cuDevicePrimaryCtxRelease(dev);
      }
  }
  cuvid_free_functions(&cv_);
  cuda_free_functions(&cu_);
}

Driver* Driver::get(std::string* why) {
  static std::once_flag once;
  static std::unique_ptr<Driver> driver;
  std::call_once(once, [] { driver.reset(new Driver()); });
  if (!driver->error_.empty()) {
    if (why) *why = driver->error_;
    return nullptr;
  }
  return driver.get();
}

CUcontext Driver::primary_context(int index) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (index < 0 || index >= device_count_ || index >= 16)
    throw Error("no CUDA device " + std::to_string(index), "", std::to_string(device_count_) + " present");
  if (!contexts_[index]) {
    CUdevice dev = 0;
    VI_CU_CHECK(cu_->cuDeviceGet(&dev, index), "");
    VI_CU_CHECK(cu_->cuDevicePrimaryCtxRetain(&contexts_[index], dev), "");
  }
  return contexts_[index];
}

std::string Driver::device_name(int index) const {
  CUdevice dev = 0;
  char name[256] = {};
  if (cu_->cuDeviceGet(&dev, index) != CUDA_SUCCESS) return "?";
  cu_->cuDeviceGetName(name, sizeof name, dev);
  return name;
}

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


std::string error_text(CUresult rc) {
  std::string why;
  Driver* d = Driver::get(&why);
  const char* name = nullptr;
  const char* text = nullptr;
  if (d && d->cu()->cuGetErrorName) d->cu()->cuGetErrorName(rc, &name);
  if (d && d->cu()->cuGetErrorString) d->cu()->cuGetErrorString(rc, &text);
  std::string out = name ? name : "CUDA error " + std::to_string(static_cast<int>(rc));
  if (text) out += std::string(" (") + text + ")";
  return out;
}

void check(CUresult rc, const char* call, const std::string& input, const char* file, int line) {
  if (rc == CUDA_SUCCESS) return;
  const std::string where = std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
  throw Error(std::string(call) + " failed", input, error_text(rc) + " (" + where + ")");
}

ContextScope::ContextScope(CUcontext ctx) {
  std::string why;
  VI_CU_CHECK(Driver::get(&why)->cu()->cuCtxPushCurrent(ctx), "");
}

ContextScope::~ContextScope() {
  CUcontext popped = nullptr;
  Driver::get(nullptr)->cu()->cuCtxPopCurrent(&popped);
}

}  // namespace vidinfer::nvdec
