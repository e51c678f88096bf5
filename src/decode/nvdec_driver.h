// The NVIDIA driver's CUDA and NVCUVID entry points, loaded at run time through ffnvcodec's loader so
// that one binary runs with or without a driver. Only translation units that include this header may
// touch NVDEC; they must not include cuda.h or LibTorch (ffnvcodec redeclares the driver types).
// The Driver is process-wide, created on first use and thread-safe to share (the function tables are
// read-only once loaded).
#pragma once

#define FFNV_LOG_FUNC(logctx, msg, ...) ((void)0)
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...) ((void)0)
#include <ffnvcodec/dynlink_loader.h>

#include <string>

extern "C" {
#include <libavcodec/codec_id.h>
}

namespace vidinfer::nvdec {

// NVCUVID's name for an FFmpeg codec; false for codecs NVDEC never decodes.
bool to_cuvid_codec(AVCodecID id, cudaVideoCodec& out);

class Driver {
 public:
  // The loaded driver, or nullptr with `why` set when there is none (no libcuda, no libnvcuvid,
  // no device, cuInit failed).
  static Driver* get(std::string* why);

  CudaFunctions* cu() const { return cu_; }
  CuvidFunctions* cv() const { return cv_; }
  // Device `index`'s primary context (the one the CUDA runtime and LibTorch use), retained for the
  // process's lifetime. Throws vidinfer::Error when there is no such device.
  CUcontext primary_context(int index);
  std::string device_name(int index) const;
  // A non-blocking stream in the current context; `high_priority`: of the highest priority (so that
  // preprocessing kernels are scheduled ahead of a model's queued work), falling back to normal.
  CUresult create_stream(CUstream* stream, bool high_priority) const;

  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

 private:
  Driver();
  CudaFunctions* cu_ = nullptr;
  CuvidFunctions* cv_ = nullptr;
  std::string error_;
  int device_count_ = 0;
  using StreamCreateWithPriority = CUresult (*)(CUstream*, unsigned int, int);
  using GetStreamPriorityRange = CUresult (*)(int*, int*);
  StreamCreateWithPriority stream_create_with_priority_ = nullptr;
  GetStreamPriorityRange get_stream_priority_range_ = nullptr;
  CUcontext contexts_[16] = {};
};

// "CUDA_ERROR_INVALID_VALUE (invalid argument)": the driver's own words for a result code.
std::string error_text(CUresult rc);

// Throws vidinfer::Error("<call> failed", input, driver text + file:line) on a non-zero result.
void check(CUresult rc, const char* call, const std::string& input, const char* file, int line);

// Pushes a context on the calling thread for a scope.
class ContextScope {
 public:
  explicit ContextScope(CUcontext ctx);
  ~ContextScope();
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;
};

}  // namespace vidinfer::nvdec

#define VI_CU_CHECK(call, input) ::vidinfer::nvdec::check((call), #call, (input), __FILE__, __LINE__)
