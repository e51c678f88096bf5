// The model's run on the GPU path (run on a machine with an NVIDIA GPU; every test skips with the
// reason elsewhere): a real CUDA out-of-memory error halves the batch once, and a forward recorded as
// CUDA graphs, or launched where it cannot be recorded, gives the launched forward's results.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "infer/device_info.h"
#include "gpu_support.h"
#include "support.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

using test::gpu::bright_box_options;
using test::gpu::run;
using test::gpu::sample;
using test::gpu::square_clip;

// A real CUDA out-of-memory error (not the CPU tests' simulated one): the model takes 1/24 of the
// device memory the driver has free per frame, so a batch of 32 cannot fit and one of 16 can. The run
// halves the batch once, says so, and gives every frame the same result as a model that needs no
// memory; the batch's head runs while the next forward is queued (ModelRunner), so the back-off is
// taken there too.
TEST(GpuPipeline, RealOutOfMemoryHalvesTheBatchOnce) {
  REQUIRE_GPU();
  test::TempDir dir;
  const int64_t free_bytes = cuda_memory_free(torch::Device(torch::kCUDA, 0));
  ASSERT_GT(free_bytes, 0);
  test::make_memory_hungry_model(dir.file("hungry.pt"), free_bytes / 24);
  test::make_channel_mean_classifier(dir.file("ref.pt"));
  RunOptions o = test::channel_mean_options(dir.file("hungry.pt"), 64, 32);
  const auto hungry = run(o, "cuda", {sample()});
  o.model_path = dir.file("ref.pt");
  const auto ref = run(o, "cuda", {sample()});
  std::printf("[ oom ] %.1f GiB free; %s\n", free_bytes / 1073741824.0, hungry.summary.inputs[0].warning.c_str());
  ASSERT_EQ(hungry.summary.inputs.size(), 1u);
  EXPECT_EQ(hungry.summary.inputs[0].status, InputStatus::Ok) << hungry.summary.inputs[0].error;
  const std::string& w = hungry.summary.inputs[0].warning;
  EXPECT_NE(w.find("model ran out of memory with a batch of 32 frames; batch halved to 16"), std::string::npos) << w;
  EXPECT_NE(w.find("CUDA out of memory"), std::string::npos) << w;
  EXPECT_EQ(w.find("simulated"), std::string::npos) << w;
  ASSERT_EQ(hungry.frames.size(), 320u);
  ASSERT_EQ(ref.frames.size(), 320u);
  for (size_t k = 0; k < ref.frames.size(); ++k) {
    EXPECT_EQ(hungry.frames[k].frame_index, ref.frames[k].frame_index);
    EXPECT_EQ(hungry.frames[k].classes[0].class_id, ref.frames[k].classes[0].class_id) << k;
    EXPECT_FLOAT_EQ(hungry.frames[k].classes[0].score, ref.frames[k].classes[0].score) << k;
  }
}

// Full batches replay the forward recorded as CUDA graphs (Model::capture_graphs); the last, partial
// batch replays it too, its rows padded with zeros and its outputs cut back. Both give what launching
// every batch gives, frame by frame.
TEST(GpuPipeline, CudaGraphsGiveTheLaunchedForwardsResults) {
  const std::string square = square_clip();
  REQUIRE_GPU();
  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  RunOptions o = test::channel_mean_options(dir.file("m.pt"), 64, 32);
  o.selection.max_frames = 300;  // 9 full batches and one of 12
  o.tuning.trace = 1;
  testing::internal::CaptureStderr();
  const auto graphs = run(o, "cuda", {sample()});
  const std::string trace = testing::internal::GetCapturedStderr();
  o.tuning.cuda_graph = false;
  testing::internal::CaptureStderr();
  const auto launched = run(o, "cuda", {sample()});
  const std::string trace_off = testing::internal::GetCapturedStderr();
  EXPECT_NE(trace.find("forward recorded as CUDA graphs"), std::string::npos) << trace;
  EXPECT_NE(trace_off.find("not recorded as CUDA graphs: Tuning::cuda_graph is off"), std::string::npos) << trace_off;
  ASSERT_EQ(graphs.frames.size(), 300u);
  ASSERT_EQ(launched.frames.size(), 300u);
  int same = 0;
  for (size_t i = 0; i < graphs.frames.size(); ++i) {
    ASSERT_EQ(graphs.frames[i].frame_index, launched.frames[i].frame_index);
    ASSERT_EQ(graphs.frames[i].classes.size(), 1u);
    ASSERT_EQ(launched.frames[i].classes.size(), 1u);
    EXPECT_EQ(graphs.frames[i].classes[0].class_id, launched.frames[i].classes[0].class_id) << i;
    EXPECT_NEAR(graphs.frames[i].classes[0].score, launched.frames[i].classes[0].score, 1e-6) << i;
    same += graphs.frames[i].classes[0].score == launched.frames[i].classes[0].score;
  }
  std::printf("[ graphs   ] %d of 300 scores bit-identical with and without CUDA graphs\n", same);

  // A model with intermediates (which a replay rewrites) and several outputs; the head of one batch
  // runs while the next batch's forward is replayed.
  test::make_bright_box_detector(dir.file("d.pt"));
  RunOptions d = bright_box_options(dir.file("d.pt"), ResizeMode::Letterbox);
  d.spec.batch = 8;  // 12 full batches of the 2 x 50 frames, and one of 4
  const std::string second = dir.file("second.mp4");  // two inputs (run() checks each one's order)
  std::filesystem::copy_file(square, second);
  const auto dg = run(d, "cuda", {square, second});
  d.tuning.cuda_graph = false;
  const auto dl = run(d, "cuda", {square, second});
  ASSERT_EQ(dg.frames.size(), 100u);
  ASSERT_EQ(dl.frames.size(), 100u);
  int boxes = 0;
  for (size_t i = 0; i < dg.frames.size(); ++i) {
    ASSERT_EQ(dg.frames[i].detections.size(), dl.frames[i].detections.size()) << i;
    for (size_t k = 0; k < dg.frames[i].detections.size(); ++k) {
      const Detection &a = dg.frames[i].detections[k], &b = dl.frames[i].detections[k];
      EXPECT_EQ(a.class_id, b.class_id) << i;
      EXPECT_NEAR(a.score, b.score, 1e-6) << i;
      EXPECT_NEAR(a.x1, b.x1, 1e-3) << i;
      EXPECT_NEAR(a.y1, b.y1, 1e-3) << i;
      EXPECT_NEAR(a.x2, b.x2, 1e-3) << i;
      EXPECT_NEAR(a.y2, b.y2, 1e-3) << i;
      ++boxes;
    }
  }
  std::printf("[ graphs   ] bright-box detector: %d boxes on 100 frames, the same with and without CUDA graphs\n", boxes);
  EXPECT_GT(boxes, 90);
}

// A model whose forward cannot be recorded (it reads a GPU value on the host): the recording fails
// at load, says why in the trace, and every batch is launched as before, with the same results.
TEST(GpuPipeline, ModelThatCannotBeRecordedRunsLaunched) {
  test::TempDir dir;
  test::make_host_reading_classifier(dir.file("m.pt"));  // (its script compiles without a GPU too)
  REQUIRE_GPU();
  RunOptions o = test::channel_mean_options(dir.file("m.pt"), 64, 32);
  o.selection.max_frames = 100;
  o.tuning.trace = 1;
  testing::internal::CaptureStderr();
  const auto tried = run(o, "cuda", {sample()});
  const std::string trace = testing::internal::GetCapturedStderr();
  o.tuning.trace = 0;
  o.tuning.cuda_graph = false;
  const auto launched = run(o, "cuda", {sample()});
  EXPECT_NE(trace.find("forward not recorded as CUDA graphs: "), std::string::npos) << trace;
  EXPECT_EQ(trace.find("forward recorded as CUDA graphs"), std::string::npos) << trace;
  EXPECT_EQ(tried.summary.failed_inputs(), 0) << trace;
  ASSERT_EQ(tried.frames.size(), 100u);
  ASSERT_EQ(launched.frames.size(), 100u);
  for (size_t i = 0; i < tried.frames.size(); ++i) {
    ASSERT_EQ(tried.frames[i].classes.size(), 1u);
    ASSERT_EQ(launched.frames[i].classes.size(), 1u);
    EXPECT_EQ(tried.frames[i].classes[0].class_id, launched.frames[i].classes[0].class_id) << i;
    EXPECT_EQ(tried.frames[i].classes[0].score, launched.frames[i].classes[0].score) << i;
  }
  const size_t at = trace.find("forward not recorded as CUDA graphs: ");
  if (at != std::string::npos) std::printf("[ graphs   ] %s\n", trace.substr(at, trace.find('\n', at) - at).c_str());
}

}  // namespace
}  // namespace vidinfer
