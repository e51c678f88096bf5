// Interlaced H.264 (1080i as broadcast and camcorders write it: field-coded, top field first) on the
// GPU path against the CPU path. Neither path deinterlaces: libavcodec gives each frame with its two
// fields woven, and NVDEC is set to weave them too, so the model sees the same pixels on both paths
// (within the colour tests' tolerance). Skips without a GPU; the clip is made first, so a run here
// leaves it for scripts/gpu-prepare to carry.
#include <gtest/gtest.h>

#include <cstdio>

#include "gpu_support.h"
#include "support.h"

namespace vidinfer {
namespace {

// 24 frames of the sample, scaled to 1920x1080 and encoded interlaced (+ildct+ilme, top field first):
// the motion between the fields is what a deinterlacer would change.
std::string interlaced_1080() {
  return test::clip("sample-1080i", "mp4", "-i " + test::q(test::gpu::sample()) +
                                                " -frames:v 24 -vf scale=1920:1080 -c:v libx264 -preset ultrafast "
                                                "-flags +ildct+ilme -x264opts tff=1 -pix_fmt yuv420p -colorspace bt709 "
                                                "-color_primaries bt709 -color_trc bt709");
}

TEST(GpuInterlaced, FieldsAreWovenAsOnTheCpuPath) {
  const std::string clip = interlaced_1080();
  // The premise, from ffprobe: the stream is interlaced, top field first.
  EXPECT_EQ(test::ffprobe_stream(clip).at("field_order").get<std::string>(), "tt");
  REQUIRE_GPU();
  const test::gpu::Diff d = test::gpu::compare_rgb(clip);
  std::printf("[ colour   ] h264_1080i_tff: mean %.3f max %.1f (inner %.1f) over %d frames; worst: %s\n", d.mean, d.max,
              d.inner_max, d.frames, d.where.c_str());
  EXPECT_EQ(d.frames, 24);
  EXPECT_LE(d.mean, 1.0);  // the progressive colour tests' tolerance (GpuColour)
  EXPECT_LE(d.max, 4.0);
}

}  // namespace
}  // namespace vidinfer
