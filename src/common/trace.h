// VIDINFER_TRACE, for measuring: 1 prints where the time goes (per input, per run, the model's
// thread); 2 adds the model stream's timeline (its idle gaps and what they waited for).
#pragma once

#include <cstdlib>

namespace vidinfer {

inline int trace_level() {
  const char* v = std::getenv("VIDINFER_TRACE");
  if (!v || !*v) return 0;
  const int n = std::atoi(v);
  return n > 0 ? n : (v[0] == '0' ? 0 : 1);
}

inline bool trace_enabled() { return trace_level() > 0; }

}  // namespace vidinfer
