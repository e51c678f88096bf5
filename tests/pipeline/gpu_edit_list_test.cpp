// The GPU path on files whose edit list hides pre-roll pictures (a stream-copied trim, see
// edit_list_test.cpp for the CPU path against ffprobe): NVDEC decodes the pre-roll too, and the
// pictures it shows for it must be dropped, so that the GPU path gives the CPU path's frame indices,
// timestamps and counts, whole and in segments. Skips without a GPU (the clip is made first, so a run
// here leaves it for scripts/gpu-prepare to carry).
#include <gtest/gtest.h>

#include "edit_list_clip.h"
#include "gpu_support.h"
#include "support.h"

namespace vidinfer {
namespace {

using test::gpu::colour_namer;
using test::gpu::run;

TEST(GpuEditList, SameFramesIndicesTimestampsAndCountsAsTheCpuPath) {
  const std::string clip = test::edit_list_clip();
  REQUIRE_GPU();
  RunOptions base = colour_namer();
  base.topk = 2;
  const auto cpu = run(base, "cpu", {clip});
  ASSERT_EQ(cpu.summary.inputs.size(), 1u);
  ASSERT_GT(cpu.frames.size(), 100u);
  for (const int segments : {1, 3, 0}) {  // 0: the GPU path's own choice
    SCOPED_TRACE("segments " + std::to_string(segments));
    RunOptions o = base;
    o.segments = segments;
    const auto gpu = run(o, "cuda", {clip});
    ASSERT_EQ(gpu.summary.inputs.size(), 1u);
    const InputSummary& in = gpu.summary.inputs[0];
    EXPECT_EQ(in.status, InputStatus::Ok) << in.error;
    EXPECT_EQ(in.decoder.rfind("gpu (NVDEC", 0), 0u) << in.decoder;
    EXPECT_EQ(in.frames_decoded, cpu.summary.inputs[0].frames_decoded);
    ASSERT_EQ(gpu.frames.size(), cpu.frames.size());
    for (size_t i = 0; i < gpu.frames.size(); ++i) {
      EXPECT_EQ(gpu.frames[i].frame_index, cpu.frames[i].frame_index) << i;
      EXPECT_NEAR(gpu.frames[i].pts, cpu.frames[i].pts, 1e-6) << i;
      // The same picture: the colour-namer's top class where it leads clearly, and its score (the
      // paths differ by their rounding only).
      const auto &g = gpu.frames[i].classes, &c = cpu.frames[i].classes;
      ASSERT_EQ(g.size(), 2u);
      ASSERT_EQ(c.size(), 2u);
      if (c[0].score - c[1].score > 0.02f) {
        EXPECT_EQ(g[0].class_id, c[0].class_id) << i;
        EXPECT_NEAR(g[0].score, c[0].score, 0.02) << i;
      }
    }
  }
}

}  // namespace
}  // namespace vidinfer
