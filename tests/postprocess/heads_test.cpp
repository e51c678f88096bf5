#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "postprocess/heads.h"
#include "support.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

using test::error_of;

std::vector<int64_t> to_vec(const torch::Tensor& t) {
  auto c = t.to(torch::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

Geometry identity(int w, int h) {
  ModelSpec s;
  s.width = w;
  s.height = h;
  return plan_geometry(w, h, s);
}

TEST(Nms, HandComputedCase) {
  // B lies inside A: IoU 81/100 = 0.81. C is far away. D overlaps A with IoU 25/175 = 0.14 and B
  // with 25/156 = 0.16.
  auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f,   // A
                              1.f, 1.f, 10.f, 10.f,   // B
                              50.f, 50.f, 60.f, 60.f, // C
                              5.f, 5.f, 15.f, 15.f})  // D
                   .view({4, 4});
  auto scores = torch::tensor({0.9f, 0.95f, 0.5f, 0.8f});
  EXPECT_EQ(to_vec(nms(boxes, scores, 0.5f)), (std::vector<int64_t>{1, 3, 2}));  // B beats A
  EXPECT_EQ(to_vec(nms(boxes, scores, 0.85f)), (std::vector<int64_t>{1, 0, 3, 2}));
  EXPECT_EQ(to_vec(nms(boxes, scores, 0.15f)), (std::vector<int64_t>{1, 2}));  // D goes with B
  EXPECT_EQ(to_vec(nms(boxes, scores, 0.17f)), (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(to_vec(nms(boxes, scores, 0.1f)), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5f).numel(), 0);
}

TEST(Nms, ClassAwareKeepsOverlappingBoxesOfOtherClasses) {
  auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 10.f, 0.f, 0.f, 10.f, 9.f}).view({3, 4});
  auto scores = torch::tensor({0.9f, 0.8f, 0.7f});
  auto classes = torch::tensor({1, 2, 1});
  EXPECT_EQ(to_vec(batched_nms(boxes, scores, classes, 0.5f)), (std::vector<int64_t>{0, 1}));
}

TEST(Classify, TopKWithSoftmaxAndLabels) {
  auto logits = torch::tensor({1.f, 3.f, 2.f, 0.f, 0.f, 0.f, 5.f, 1.f}).view({2, 4});
  const auto r = classify_head(logits, 2, {2, Activation::Softmax, 0}, {"a", "b", "c", "d"});
  ASSERT_EQ(r.size(), 2u);
  ASSERT_EQ(r[0].size(), 2u);
  const double z = std::exp(1.) + std::exp(3.) + std::exp(2.) + 1.;
  EXPECT_EQ(r[0][0].class_id, 1);
  EXPECT_EQ(r[0][0].label, "b");
  EXPECT_NEAR(r[0][0].score, std::exp(3.) / z, 1e-6);
  EXPECT_EQ(r[0][1].class_id, 2);
  EXPECT_EQ(r[1][0].class_id, 2);
  EXPECT_EQ(r[1][0].label, "c");
}

TEST(Classify, NoActivationOffsetAndMissingLabels) {
  auto probs = torch::tensor({0.1f, 0.7f, 0.2f}).view({1, 3, 1, 1});
  const auto r = classify_head(probs, 1, {5, Activation::None, 1}, {"bg", "x"});
  ASSERT_EQ(r[0].size(), 3u);  // k is capped at the class count
  EXPECT_EQ(r[0][0].class_id, 2);
  EXPECT_EQ(r[0][0].label, "");
  EXPECT_FLOAT_EQ(r[0][0].score, 0.7f);
  EXPECT_EQ(r[0][2].class_id, 1);
  EXPECT_EQ(r[0][2].label, "x");
}

TEST(Classify, OutputThatDoesNotFit) {
  EXPECT_EQ(error_of([] { classify_head(torch::zeros({2, 3, 4, 4}), 2, {}, {}); }),
            "model output does not fit task classify: expected a [2, classes] tensor, got Tensor[2, 3, 4, 4] Float");
  EXPECT_EQ(error_of([] { classify_head(torch::zeros({3, 10}), 2, {}, {}); }),
            "model output does not fit task classify: expected a [2, classes] tensor, got Tensor[3, 10] Float");
  const auto tuple = c10::ivalue::Tuple::create({torch::zeros({2, 3}), torch::zeros({2})});
  EXPECT_EQ(error_of([&] { classify_head(tuple, 2, {}, {}); }),
            "model output does not fit task classify: expected a [2, classes] tensor, got tuple(Tensor[2, 3] Float, "
            "Tensor[2] Float)");
}

TEST(Detect, FinalDetectionsMappedThroughLetterbox) {
  // A 200x100 frame letterboxed into 100x100: scale 0.5, offset_y 25.
  ModelSpec s;
  s.width = s.height = 100;
  s.resize = ResizeMode::Letterbox;
  const Geometry g = plan_geometry(200, 100, s);
  auto boxes = torch::tensor({10.f, 30.f, 20.f, 50.f, 0.f, 0.f, 100.f, 20.f, 0.f, 0.f, 1.f, 1.f}).view({1, 3, 4});
  auto scores = torch::tensor({0.8f, 0.6f, 0.1f}).view({1, 3});
  auto labels = torch::tensor({2, 1, 0}).view({1, 3});
  const auto out = c10::ivalue::Tuple::create({boxes, scores, labels});
  DetectParams p;
  p.score_threshold = 0.3f;
  const auto r = detect_head(out, {g}, p, {"zero", "one", "two"});
  ASSERT_EQ(r.size(), 1u);
  // The second box lies wholly in the padding (y < 25): dropped. The third is below the threshold.
  ASSERT_EQ(r[0].size(), 1u);
  EXPECT_FLOAT_EQ(r[0][0].x1, 20.f);
  EXPECT_FLOAT_EQ(r[0][0].y1, 10.f);
  EXPECT_FLOAT_EQ(r[0][0].x2, 40.f);
  EXPECT_FLOAT_EQ(r[0][0].y2, 50.f);
  EXPECT_EQ(r[0][0].label, "two");
}

TEST(Detect, ListOfDictsNormalisedCxcywh) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  d.insert("boxes", torch::tensor({0.5f, 0.5f, 0.2f, 0.4f}).view({1, 4}));
  d.insert("scores", torch::tensor({0.9f}));
  d.insert("labels", torch::tensor({3}));
  c10::impl::GenericList list(c10::AnyType::get());
  list.push_back(d);
  DetectParams p;
  p.box_format = BoxFormat::CXCYWH;
  p.boxes_normalized = true;
  const auto r = detect_head(list, {identity(50, 100)}, p, {});
  ASSERT_EQ(r[0].size(), 1u);
  EXPECT_FLOAT_EQ(r[0][0].x1, 20.f);
  EXPECT_FLOAT_EQ(r[0][0].x2, 30.f);
  EXPECT_FLOAT_EQ(r[0][0].y1, 30.f);
  EXPECT_FLOAT_EQ(r[0][0].y2, 70.f);
  EXPECT_EQ(r[0][0].class_id, 3);
}

TEST(Detect, DenseHeadThresholdAndClassAwareNms) {
  // Per image: box 0 and box 1 overlap (IoU 0.81). Class scores: box 0 class 1 = 0.9, box 1 class 1
  // = 0.8 and class 0 = 0.7, box 2 0.2 everywhere.
  auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 10.f, 10.f, 30.f, 30.f, 40.f, 40.f}).view({1, 3, 4});
  auto scores = torch::tensor({0.1f, 0.9f, 0.7f, 0.8f, 0.2f, 0.2f}).view({1, 3, 2});
  const auto out = c10::ivalue::Tuple::create({boxes, scores});
  DetectParams p;
  p.layout = DetectLayout::Dense;
  p.score_threshold = 0.5f;
  p.iou_threshold = 0.5f;
  const auto r = detect_head(out, {identity(100, 100)}, p, {"cat", "dog"});
  ASSERT_EQ(r[0].size(), 2u);
  EXPECT_EQ(r[0][0].label, "dog");
  EXPECT_FLOAT_EQ(r[0][0].score, 0.9f);
  EXPECT_FLOAT_EQ(r[0][0].x1, 0.f);
  EXPECT_EQ(r[0][1].label, "cat");  // same box as the suppressed dog, other class: kept
  EXPECT_FLOAT_EQ(r[0][1].score, 0.7f);
  EXPECT_FLOAT_EQ(r[0][1].x1, 1.f);
}

TEST(Detect, DenseWithSigmoidScores) {
  auto boxes = torch::tensor({0.f, 0.f, 10.f, 10.f}).view({1, 1, 4});
  auto logits = torch::tensor({0.f, 2.f}).view({1, 1, 2});  // sigmoid: 0.5, 0.88
  DetectParams p;
  p.layout = DetectLayout::Dense;
  p.score_activation = Activation::Sigmoid;
  p.score_threshold = 0.6f;
  const auto r = detect_head(c10::ivalue::Tuple::create({boxes, logits}), {identity(20, 20)}, p, {});
  ASSERT_EQ(r[0].size(), 1u);
  EXPECT_NEAR(r[0][0].score, 1 / (1 + std::exp(-2.)), 1e-6);
  EXPECT_EQ(r[0][0].class_id, 1);
}

TEST(Detect, OutputThatDoesNotFit) {
  DetectParams p;
  const std::string msg = error_of([&] { detect_head(torch::zeros({1, 10}), {identity(4, 4)}, p, {}); });
  EXPECT_EQ(msg.rfind("model output does not fit task detect: expected boxes/scores/labels as a tuple ([1, N, 4]", 0), 0u)
      << msg;
  EXPECT_NE(msg.find("got Tensor[1, 10] Float"), std::string::npos) << msg;
  p.layout = DetectLayout::Dense;
  EXPECT_EQ(error_of([&] {
              detect_head(c10::ivalue::Tuple::create({torch::zeros({1, 5, 4}), torch::zeros({1, 6, 3})}),
                          {identity(4, 4)}, p, {});
            }),
            "model output does not fit task detect: expected a tuple (boxes [1, N, 4], scores [1, N, classes]), got "
            "tuple(Tensor[1, 5, 4] Float, Tensor[1, 6, 3] Float)");
}

// CenterNet decoding on the CPU (LibTorch's ops; the GPU's fused kernels are compared with it in
// gpu_heads_test). A 2-class 3x4 map for an 8x6 input: 2 pixels per cell; every box distance 1.
TEST(Detect, CenterNetPeaksPlateauAndThreshold) {
  auto hm = torch::zeros({1, 2, 3, 4});
  hm[0][0][1][1] = 0.9f;  // a peak
  hm[0][0][1][2] = 0.5f;  // beside a higher cell: not a peak
  hm[0][1][0][3] = 0.7f;  // a plateau of two equal cells: both are peaks
  hm[0][1][1][3] = 0.7f;
  hm[0][1][2][0] = 0.2f;  // a peak below the threshold
  const auto out = c10::ivalue::Tuple::create({hm, torch::ones({1, 4, 3, 4})});
  DetectParams p;
  p.layout = DetectLayout::CenterNet;
  p.score_threshold = 0.3f;
  auto r = detect_head(out, {identity(8, 6)}, p, {"a", "b"});
  ASSERT_EQ(r[0].size(), 3u);
  EXPECT_FLOAT_EQ(r[0][0].score, 0.9f);
  EXPECT_EQ(r[0][0].label, "a");
  EXPECT_FLOAT_EQ(r[0][0].x1, 1.f);  // cell (1, 1) at (2, 2), 1 each way
  EXPECT_FLOAT_EQ(r[0][0].y1, 1.f);
  EXPECT_FLOAT_EQ(r[0][0].x2, 3.f);
  EXPECT_FLOAT_EQ(r[0][0].y2, 3.f);
  std::sort(r[0].begin() + 1, r[0].end(), [](const Detection& a, const Detection& b) { return a.y1 < b.y1; });
  for (int i : {1, 2}) {
    EXPECT_FLOAT_EQ(r[0][i].score, 0.7f);
    EXPECT_EQ(r[0][i].class_id, 1);
    EXPECT_FLOAT_EQ(r[0][i].x1, 5.f);
    EXPECT_FLOAT_EQ(r[0][i].x2, 7.f);
  }
  EXPECT_FLOAT_EQ(r[0][1].y1, 0.f);  // -1, clamped to the frame
  EXPECT_FLOAT_EQ(r[0][1].y2, 1.f);
  EXPECT_FLOAT_EQ(r[0][2].y1, 1.f);
  EXPECT_FLOAT_EQ(r[0][2].y2, 3.f);
  p.max_detections = 1;
  r = detect_head(out, {identity(8, 6)}, p, {"a", "b"});
  ASSERT_EQ(r[0].size(), 1u);
  EXPECT_FLOAT_EQ(r[0][0].score, 0.9f);
  p.score_threshold = 0.95f;
  EXPECT_TRUE(detect_head(out, {identity(8, 6)}, p, {})[0].empty());
}

TEST(Detect, CenterNetOutputThatDoesNotFit) {
  DetectParams p;
  p.layout = DetectLayout::CenterNet;
  const std::string expected =
      "model output does not fit task detect: expected a tuple (heatmap [1, classes, H, W], box map [1, 4, H, W]), got ";
  EXPECT_EQ(error_of([&] { detect_head(torch::zeros({1, 2, 3, 4}), {identity(8, 6)}, p, {}); }),
            expected + "Tensor[1, 2, 3, 4] Float");
  EXPECT_EQ(error_of([&] {
              detect_head(c10::ivalue::Tuple::create({torch::zeros({1, 2, 3, 4}), torch::zeros({1, 4, 3, 5})}),
                          {identity(8, 6)}, p, {});
            }),
            expected + "tuple(Tensor[1, 2, 3, 4] Float, Tensor[1, 4, 3, 5] Float)");
}

}  // namespace
}  // namespace vidinfer
