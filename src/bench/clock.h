// The clock vidinfer bench times its modes with, and seconds since a point on it.
#pragma once

#include <chrono>

namespace vidinfer::bench {

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace vidinfer::bench
