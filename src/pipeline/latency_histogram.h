// Latency percentiles of a live input in constant memory, however long it runs: counts in bins
// 2% apart from 0.1 ms to ~1000 s (so a percentile is within 1% of the exact one), not every value.
// (A streaming quantile sketch library is not in Debian; this is all it would do here.)
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace vidinfer {

class LatencyHistogram {
 public:
  void add(double seconds) {
    max_ = std::max(max_, seconds);
    ++n_;
    ++bins_[bin(seconds)];
  }
  int64_t count() const { return n_; }
  double max() const { return max_; }
  // The q-quantile (0..1), in seconds: the centre of the bin that holds it; 0 when empty.
  double quantile(double q) const {
    if (n_ == 0) return 0;
    const auto rank = static_cast<int64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(n_)));
    int64_t seen = 0;
    for (size_t i = 0; i < bins_.size(); ++i) {
      seen += bins_[i];
      if (seen >= std::max<int64_t>(rank, 1)) return std::min(max_, kLow * std::pow(kRatio, static_cast<double>(i) + 0.5));
    }
    return max_;
  }

 private:
  static constexpr double kLow = 1e-4, kRatio = 1.02;
  static constexpr size_t kBins = 820;
  static size_t bin(double s) {
    if (!(s > kLow)) return 0;
    const double i = std::log(s / kLow) / std::log(kRatio);
    return std::min(kBins - 1, static_cast<size_t>(i));
  }
  std::array<int64_t, kBins> bins_{};
  int64_t n_ = 0;
  double max_ = 0;
};

}  // namespace vidinfer
