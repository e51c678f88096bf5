// The CenterNet head's fused GPU decoding (postprocess/cuda_centernet.cu) against LibTorch's decoding
// of the same maps on the CPU (the path CPU runs take, an independent implementation: max_pool2d,
// topk, gather). Runs on a machine with an NVIDIA GPU; every test skips with the reason elsewhere.
//
// Expected: the same detections per frame: same count, same scores exactly, same classes and labels,
// boxes within 1e-4 relative. The only freedom: topk's order among equal scores is unspecified, so
// where the top k ends inside a group of equal scores, which of its members made it may differ (the
// kernels take the lowest NHWC indices); the group's size and score must still agree.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "postprocess/cuda_centernet.h"
#include "postprocess/heads.h"
#include "common/cuda.h"
#include "preprocess/geometry.h"

namespace vidinfer {
namespace {

std::string why_no_gpu() {
  if (!cuda::kernels_available()) return "built without CUDA kernels";
  if (!torch::cuda::is_available()) return "no CUDA GPU visible to LibTorch";
  return "";
}

#define REQUIRE_GPU()                                                      \
  do {                                                                     \
    if (const auto why = why_no_gpu(); !why.empty()) GTEST_SKIP() << why; \
  } while (0)

const std::vector<std::string> kLabels = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

struct Maps {
  torch::Tensor hm, wh;  // on the CPU, in the dtypes the model would return
};

// Noise in [0, 0.25) with `planted` peaks per image at levels 0.30, 0.35, ... 0.95, so that equal
// scores are common (in bfloat16 the noise ties too); every fourth one is a plateau (two equal
// neighbouring cells: both are peaks under the == rule), every fourth the same score in the next
// class at the same cell. Box distances in [0.5, 20.5): boxes are never empty, so to_frame drops none
// and a frame's count is min(peaks at or above the threshold, k) on both paths.
Maps make_maps(int64_t b, int64_t c, int64_t h, int64_t w, torch::ScalarType hm_type, torch::ScalarType wh_type,
               uint64_t seed, int planted, float noise = 0.25f) {
  torch::manual_seed(seed);
  auto hm = torch::rand({b, c, h, w}) * noise;
  auto a = hm.accessor<float, 4>();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  for (int64_t i = 0; i < b; ++i) {
    for (int j = 0; j < planted; ++j) {
      const int64_t cc = rng() % c, y = rng() % h, x = rng() % w;
      const float v = 0.3f + 0.05f * static_cast<float>(rng() % 14);
      a[i][cc][y][x] = v;
      if (j % 4 == 1 && x + 1 < w) a[i][cc][y][x + 1] = v;
      if (j % 4 == 2) a[i][(cc + 1) % c][y][x] = v;
    }
  }
  auto wh = torch::rand({b, 4, h, w}) * 20 + 0.5;
  return {hm.to(hm_type), wh.to(wh_type)};
}

// The frame is the model input (no resize): boxes come back in model-input pixels, clamped to it.
// The input is not a whole multiple of the map, so the cell-to-pixel scale is not a round number.
Geometry input_geometry(int64_t h, int64_t w) {
  ModelSpec s;
  s.width = static_cast<int>(4 * w + 3);
  s.height = static_cast<int>(4 * h + 1);
  return plan_geometry(s.width, s.height, s);
}

DetectParams centernet_params(float threshold, int max_detections) {
  DetectParams p;
  p.layout = DetectLayout::CenterNet;
  p.score_threshold = threshold;
  p.max_detections = max_detections;
  return p;
}

using Frames = std::vector<std::vector<Detection>>;

struct Decoded {
  Frames gpu, ref;
  CenterNetGpuCounts counts;  // the GPU call's increments
};

// The maps decoded on the GPU and, as the reference, on the CPU. `hm_on_gpu` may be given in another
// memory layout (channels-last) than the CPU reference.
Decoded decode_both(const Maps& m, const DetectParams& p, torch::MemoryFormat gpu_layout = torch::MemoryFormat::Contiguous) {
  const std::vector<Geometry> geos(m.hm.size(0), input_geometry(m.hm.size(2), m.hm.size(3)));
  Decoded d;
  d.ref = detect_head(c10::ivalue::Tuple::create({m.hm, m.wh}), geos, p, kLabels);
  const auto hm = m.hm.to(torch::kCUDA).contiguous(gpu_layout), wh = m.wh.to(torch::kCUDA);
  const auto before = centernet_gpu_counts();
  d.gpu = detect_head(c10::ivalue::Tuple::create({hm, wh}), geos, p, kLabels);
  const auto after = centernet_gpu_counts();
  d.counts = {after.fused - before.fused, after.torch - before.torch, after.overflow - before.overflow};
  return d;
}

std::vector<Detection> ranked(std::vector<Detection> v) {
  std::sort(v.begin(), v.end(), [](const Detection& a, const Detection& b) {
    return std::make_tuple(-a.score, a.class_id, a.x1, a.y1, a.x2, a.y2) <
           std::make_tuple(-b.score, b.class_id, b.x1, b.y1, b.x2, b.y2);
  });
  return v;
}

void expect_box_near(float got, float want) { EXPECT_NEAR(got, want, 1e-4 * std::max(1.f, std::abs(want))); }

// See the file comment. Both lists ranked by score (then class, box); walked in groups of equal
// reference score: the GPU's scores there must be the same, exactly; the members (class, label, box)
// must be the same unless the group is the last of a frame cut at k (`max_detections` rows).
void expect_same(const Frames& gpu, const Frames& ref, int max_detections) {
  ASSERT_EQ(gpu.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const auto a = ranked(gpu[i]), e = ranked(ref[i]);
    ASSERT_EQ(a.size(), e.size());
    const bool cut_by_k = static_cast<int>(e.size()) == max_detections;
    for (size_t g0 = 0, g1 = 0; g0 < e.size(); g0 = g1) {
      while (g1 < e.size() && e[g1].score == e[g0].score) ++g1;
      for (size_t j = g0; j < g1; ++j) ASSERT_EQ(a[j].score, e[g0].score) << "row " << j;
      if (cut_by_k && g1 == e.size()) break;  // topk's choice among equal scores
      for (size_t j = g0; j < g1; ++j) {
        SCOPED_TRACE("row " + std::to_string(j));
        EXPECT_EQ(a[j].class_id, e[j].class_id);
        EXPECT_EQ(a[j].label, e[j].label);
        expect_box_near(a[j].x1, e[j].x1);
        expect_box_near(a[j].y1, e[j].y1);
        expect_box_near(a[j].x2, e[j].x2);
        expect_box_near(a[j].y2, e[j].y2);
      }
    }
  }
}

size_t total(const Frames& f) {
  size_t n = 0;
  for (const auto& v : f) n += v.size();
  return n;
}

bool has_tie_at_cut(const Frames& ref, int max_detections) {
  for (const auto& f : ref) {
    const auto r = ranked(f);
    if (static_cast<int>(r.size()) == max_detections && r.size() >= 2 && r[r.size() - 2].score == r.back().score)
      return true;
  }
  return false;
}

class FusedCenterNet : public ::testing::TestWithParam<torch::ScalarType> {};

// (a) Planted peaks with ties and plateaus, each heatmap dtype; cut by k, cut by the threshold, and
// hundreds of noise peaks per frame (a threshold inside the noise) sorted by the select kernel.
TEST_P(FusedCenterNet, SameDetectionsAsTheCpuDecoding) {
  REQUIRE_GPU();
  const auto type = GetParam();
  // The box map in float32 for the bfloat16 heatmap: the two maps' dtypes are read independently.
  const auto wh_type = type == torch::kBFloat16 ? torch::kFloat : type;
  const auto m = make_maps(4, 5, 37, 45, type, wh_type, 11 + static_cast<int>(type), 60);
  struct Case {
    float threshold;
    int max_detections;
    const char* what;
  };
  for (const Case c : {Case{0.3f, 20, "cut by k"}, Case{0.55f, 100, "cut by the threshold"},
                       Case{0.1f, 100, "noise peaks, cut by k"}, Case{0.1f, 5000, "all noise peaks"},
                       Case{0.96f, 100, "nothing above the threshold"}}) {
    SCOPED_TRACE(std::string(c.what) + ", " + std::string(c10::toString(type)));
    const auto p = centernet_params(c.threshold, c.max_detections);
    const auto d = decode_both(m, p);
    EXPECT_EQ(d.counts.fused, 1);
    EXPECT_EQ(d.counts.torch, 0);
    expect_same(d.gpu, d.ref, c.max_detections);
    if (c.threshold < 0.9f) {
      EXPECT_GT(total(d.ref), 4u * 10);
    }
    if (c.max_detections == 20) {
      EXPECT_EQ(total(d.ref), 4u * 20);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(HeatmapDtypes, FusedCenterNet, ::testing::Values(torch::kFloat, torch::kHalf, torch::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

// (a) The top k ending inside a group of equal scores (bfloat16 has few levels, so it happens
// at once): the comparison's one freedom is exercised, not just allowed.
TEST(FusedCenterNetTies, CutInsideAGroupOfEqualScores) {
  REQUIRE_GPU();
  const auto m = make_maps(2, 3, 40, 40, torch::kBFloat16, torch::kBFloat16, 5, 200);
  bool tie_seen = false;
  for (int k : {7, 13, 29, 41, 64}) {
    SCOPED_TRACE("k " + std::to_string(k));
    const auto d = decode_both(m, centernet_params(0.3f, k));
    EXPECT_EQ(d.counts.fused, 1);
    expect_same(d.gpu, d.ref, k);
    tie_seen = tie_seen || has_tie_at_cut(d.ref, k);
  }
  EXPECT_TRUE(tie_seen) << "no k ended inside a group of equal scores: the test lost its point";
}

// (a) A channels-last heatmap (as a model may return it) decodes the same.
TEST(FusedCenterNetLayout, ChannelsLastHeatmap) {
  REQUIRE_GPU();
  const auto m = make_maps(3, 6, 20, 24, torch::kHalf, torch::kHalf, 3, 40);
  const auto d = decode_both(m, centernet_params(0.3f, 100), torch::MemoryFormat::ChannelsLast);
  EXPECT_EQ(d.counts.fused, 1);
  expect_same(d.gpu, d.ref, 100);
  EXPECT_GT(total(d.ref), 0u);
}

// (b) More than kCenterNetCap peaks above the threshold in a frame: the kernels hand the batch back
// and LibTorch's ops decode it on the GPU, with the same result. Uniform noise on [0, 1): about one
// cell in nine is a peak, 8 * 80 * 80 / 9 = ~5700 per frame.
TEST(FusedCenterNetOverflow, MorePeaksThanTheCapacityFallBack) {
  REQUIRE_GPU();
  const auto m = make_maps(2, 8, 80, 80, torch::kFloat, torch::kFloat, 21, 0, 1.f);
  const auto d = decode_both(m, centernet_params(1e-6f, 100));
  EXPECT_EQ(d.counts.fused, 0);
  EXPECT_EQ(d.counts.overflow, 1);
  EXPECT_EQ(d.counts.torch, 1);
  expect_same(d.gpu, d.ref, 100);
  EXPECT_EQ(total(d.ref), 2u * 100);
  // A threshold of 0 goes to LibTorch's ops without the kernels (zeroed non-peaks pass it there).
  const auto z = decode_both(m, centernet_params(0.f, 100));
  EXPECT_EQ(z.counts.fused, 0);
  EXPECT_EQ(z.counts.overflow, 0);
  EXPECT_EQ(z.counts.torch, 1);
  expect_same(z.gpu, z.ref, 100);
  // Just under the capacity: the kernels take it (hundreds of keys sorted at once).
  const auto n = make_maps(1, 5, 80, 80, torch::kFloat, torch::kFloat, 22, 0, 1.f);
  const auto u = decode_both(n, centernet_params(1e-6f, 5000));
  EXPECT_EQ(u.counts.fused, 1) << "expected 5 * 80 * 80 / 9 = ~3600 peaks, under " << cuda::kCenterNetCap;
  expect_same(u.gpu, u.ref, 5000);
  EXPECT_GT(total(u.ref), 3000u);
}

// (c) One frame, one class, maps whose sides are not multiples of the kernels' 32 x 8 tiles (and
// smaller than one), down to a single cell.
TEST(FusedCenterNetShapes, OneFrameOneClassOddSizes) {
  REQUIRE_GPU();
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{7, 33}, {9, 31}, {17, 65}, {1, 1}, {2, 3}, {1, 40}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const auto m = make_maps(1, 1, h, w, torch::kHalf, torch::kHalf, 100 + h * w, static_cast<int>(h * w / 8 + 1));
    for (const int k : {3, 100}) {
      const auto d = decode_both(m, centernet_params(0.3f, k));
      EXPECT_EQ(d.counts.fused, 1);
      expect_same(d.gpu, d.ref, k);
      EXPECT_GT(total(d.ref), 0u);
    }
  }
}

// (d) NaN cells in one frame: never detections, and the neighbours they touch are not peaks (NaN is
// the max of their window, as in max_pool2d); the other frames are untouched. k is larger than the
// peaks and NaNs of any frame, so topk's NaN-first ranking takes no places from real peaks and the
// CPU decoding is a strict reference here too.
TEST(FusedCenterNetNaN, NaNInOneFrameLeavesTheOthers) {
  REQUIRE_GPU();
  auto m = make_maps(3, 4, 30, 30, torch::kFloat, torch::kFloat, 31, 40);
  m.hm[1][2][10][10] = 0.99f;  // a peak with a NaN neighbour: not a peak
  m.hm[1][2][10][11] = NAN;
  m.hm[1][0][0][0] = NAN;      // at the corner (the padding)
  m.hm[1][3][29][29] = NAN;
  m.hm[1][1].index_put_({torch::indexing::Slice(5, 8), torch::indexing::Slice(20, 23)}, NAN);  // a block
  const auto d = decode_both(m, centernet_params(0.3f, 1000));
  EXPECT_EQ(d.counts.fused, 1);
  expect_same(d.gpu, d.ref, 1000);
  for (const auto& f : d.gpu)
    for (const auto& det : f) EXPECT_FALSE(std::isnan(det.score));
  for (const auto& det : d.gpu[1]) EXPECT_NE(det.score, 0.99f);
  // The frames without NaN decode as they do alone.
  const auto clean = make_maps(3, 4, 30, 30, torch::kFloat, torch::kFloat, 31, 40);
  const auto c = decode_both(clean, centernet_params(0.3f, 1000));
  expect_same({d.gpu[0], d.gpu[2]}, {c.gpu[0], c.gpu[2]}, 1000);
  EXPECT_GT(d.gpu[0].size(), 0u);
}

}  // namespace
}  // namespace vidinfer
