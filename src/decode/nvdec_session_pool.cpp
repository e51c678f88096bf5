// The process's kept NVDEC sessions and the keeper that holds them (see nvdec_session_pool.h).
#include "decode/nvdec_session_pool.h"

namespace vidinfer {
namespace nvdec {

SessionPool& SessionPool::get() {
  static SessionPool* pool = new SessionPool;  // never destroyed: sessions may be released at exit
  return *pool;
}

}  // namespace nvdec

NvdecSessionKeeper::NvdecSessionKeeper(bool reuse, bool serial_create) {
  nvdec::SessionPool::get().hold(reuse, serial_create);
}
NvdecSessionKeeper::~NvdecSessionKeeper() { nvdec::SessionPool::get().release(); }
NvdecSessionCounts nvdec_session_counts() { return nvdec::SessionPool::get().counts(); }
void nvdec_reserve_kept(int sessions) {
  if (sessions > 0) nvdec::SessionPool::get().reserve(static_cast<size_t>(sessions));
}

}  // namespace vidinfer
