// LatencyHistogram: percentiles within its 2% bins of the exact ones, over a spread of latencies.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "pipeline/latency_histogram.h"

namespace vidinfer {
namespace {

TEST(LatencyHistogram, PercentilesAreWithinTwoPercentOfTheExactOnes) {
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(std::log(0.04), 0.8);  // ~40 ms, a long tail
  std::vector<double> v;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    v.push_back(dist(rng));
    h.add(v.back());
  }
  std::sort(v.begin(), v.end());
  EXPECT_EQ(h.count(), 100000);
  EXPECT_DOUBLE_EQ(h.max(), v.back());
  for (double q : {0.5, 0.95, 0.99}) {
    const double exact = v[static_cast<size_t>(q * v.size()) - 1];
    EXPECT_NEAR(h.quantile(q), exact, 0.02 * exact) << "q " << q;
  }
}

TEST(LatencyHistogram, EmptyAndTinyValues) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.5), 0.0);
  h.add(0.0);
  h.add(-1.0);  // a clock step back: counted in the lowest bin, never below 0 in the answer
  EXPECT_GE(h.quantile(0.99), 0.0);
  EXPECT_LE(h.quantile(0.99), 1e-4);
}

}  // namespace
}  // namespace vidinfer
