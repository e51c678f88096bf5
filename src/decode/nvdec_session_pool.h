// The NVDEC sessions (hardware decoders) kept between inputs, for NvdecSessionKeeper (decoder.h
// says why). Internal to the NVDEC decoder: like it, this includes ffnvcodec's loader (no cuda.h, no
// LibTorch). Thread-safe: every decoder of the process makes and leaves sessions through it.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "decode/decoder.h"
#include "decode/nvdec_driver.h"

namespace vidinfer::nvdec {

// What a hardware decoder was created for: one may serve another stream only if all of it is equal.
struct SessionKey {
  CUcontext ctx = nullptr;
  int codec = 0, chroma = 0, format = 0, depth = 0, deinterlace = 0;
  unsigned long surfaces = 0, outputs = 0, flags = 0, width = 0, height = 0, target_w = 0, target_h = 0;
  short left = 0, top = 0, right = 0, bottom = 0;
  bool operator==(const SessionKey&) const = default;
  static SessionKey of(CUcontext ctx, const CUVIDDECODECREATEINFO& ci) {
    SessionKey k;
    k.ctx = ctx;
    k.codec = ci.CodecType;
    k.chroma = ci.ChromaFormat;
    k.format = ci.OutputFormat;
    k.depth = static_cast<int>(ci.bitDepthMinus8);
    k.deinterlace = ci.DeinterlaceMode;
    k.surfaces = ci.ulNumDecodeSurfaces;
    k.outputs = ci.ulNumOutputSurfaces;
    k.flags = ci.ulCreationFlags;
    k.width = ci.ulWidth;
    k.height = ci.ulHeight;
    k.target_w = ci.ulTargetWidth;
    k.target_h = ci.ulTargetHeight;
    k.left = ci.display_area.left;
    k.top = ci.display_area.top;
    k.right = ci.display_area.right;
    k.bottom = ci.display_area.bottom;
    return k;
  }
};

// The kept sessions (see NvdecSessionKeeper). Written by hand: the driver has no such pool, and a
// session is a driver handle that only this file knows how to make.
class SessionPool {
 public:
  static SessionPool& get();  // the process's one pool
  // A session for `ci` in `ctx`: a kept one with the same parameters (*reused = true), else a new one.
  CUresult make(Driver* drv, CUcontext ctx, CUVIDDECODECREATEINFO& ci, CUvideodecoder* dec, bool* reused) {
    if ((*dec = take(SessionKey::of(ctx, ci)))) {
      *reused = true;
      return CUDA_SUCCESS;
    }
    // One creation at a time in the process: the driver serialises them anyway, but 8 decoders
    // that start together each waited until all 8 were made (~330 ms on an H200), where one at a
    // time the first starts decoding after ~45 ms. Measured with the bundled CenterNet over 8
    // 1080p HEVC inputs: the first forward ran at 97 ms instead of 347-380 ms, and the run at 2934
    // instead of 2690 fps. Tuning::nvdec_serial_create = false lets them all call the driver at once.
    std::unique_lock<std::mutex> lock(create_mu_, std::defer_lock);
    if (serial_create_) lock.lock();
    const CUresult rc = drv->cv()->cuvidCreateDecoder(dec, &ci);
    if (rc != CUDA_SUCCESS) {
      *dec = nullptr;
      return rc;
    }
    std::lock_guard count_lock(mu_);
    ++counts_.created;
    return rc;
  }
  // Keeps `dec` if a keeper is alive; false: the caller destroys it.
  bool keep(Driver* drv, const SessionKey& key, CUvideodecoder dec) {
    std::vector<std::pair<SessionKey, CUvideodecoder>> evicted;
    {
      std::lock_guard lock(mu_);
      if (keepers_ == 0 || !enabled_) return false;
      drv_ = drv;
      kept_.emplace_back(key, dec);
      // Bounded: the oldest go first (a run's formats change rarely; each session holds its surfaces).
      while (kept_.size() > kMaxKept + reserved_) {
        evicted.push_back(kept_.front());
        kept_.pop_front();
      }
    }
    destroy(drv, evicted);
    return true;
  }
  // A keeper's settings hold for the process while it lives (the last keeper made sets them).
  void hold(bool reuse, bool serial_create) {
    std::lock_guard lock(mu_);
    enabled_ = reuse;
    serial_create_ = serial_create;
    ++keepers_;
  }
  void release() {
    std::vector<std::pair<SessionKey, CUvideodecoder>> all;
    Driver* drv;
    {
      std::lock_guard lock(mu_);
      if (--keepers_ > 0) return;
      all.assign(kept_.begin(), kept_.end());
      kept_.clear();
      reserved_ = 0;
      drv = drv_;
    }
    destroy(drv, all);
  }
  // `n` more sessions kept than the bound, until that many have been taken (see nvdec_reserve_kept).
  void reserve(size_t n) {
    std::lock_guard lock(mu_);
    reserved_ += n;
  }
  NvdecSessionCounts counts() {
    std::lock_guard lock(mu_);
    return counts_;
  }

 private:
  SessionPool() = default;
  // A kept session for `key`, or null.
  CUvideodecoder take(const SessionKey& key) {
    std::lock_guard lock(mu_);
    for (auto it = kept_.begin(); it != kept_.end(); ++it)
      if (it->first == key) {
        CUvideodecoder d = it->second;
        kept_.erase(it);
        if (reserved_ > 0) --reserved_;
        ++counts_.reused;
        return d;
      }
    return nullptr;
  }
  static void destroy(Driver* drv, const std::vector<std::pair<SessionKey, CUvideodecoder>>& v) {
    for (const auto& [key, dec] : v) {
      try {
        nvdec::ContextScope scope(key.ctx);
        drv->cv()->cuvidDestroyDecoder(dec);
      } catch (...) {  // a context that cannot be made current: the session goes with the process
      }
    }
  }
  static constexpr size_t kMaxKept = 64;
  size_t reserved_ = 0;  // sessions made ahead for a run, kept beyond kMaxKept until taken
  std::mutex mu_;
  std::mutex create_mu_;  // held around cuvidCreateDecoder (see make)
  std::deque<std::pair<SessionKey, CUvideodecoder>> kept_;
  Driver* drv_ = nullptr;
  int keepers_ = 0;
  bool enabled_ = true;
  std::atomic<bool> serial_create_{true};
  NvdecSessionCounts counts_;
};

}  // namespace vidinfer::nvdec
