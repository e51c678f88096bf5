// Helpers shared by the GPU test files (one test executable, gpu_pipeline_test): the GPU check that
// makes a test skip with its reason, the sample clip and the clips several files use, the
// GPU-vs-swscale colour comparison, a pipeline run that sorts its results by input, the bright-box
// detector's options and the count of one run's detections another run has.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"

namespace vidinfer::test::gpu {

// Why the GPU tests cannot run here (empty: they can).
std::string why_no_gpu();

#define REQUIRE_GPU()                                                                          \
  do {                                                                                         \
    if (const auto why = ::vidinfer::test::gpu::why_no_gpu(); !why.empty()) GTEST_SKIP() << why; \
  } while (0)

std::string sample();  // data/sample.mp4: 640x360 H.264, BT.709 limited
std::string sample_hevc10();  // the sample as 10-bit HEVC (60 frames, BT.709 limited)
std::string hevc_320();        // 2 s of testsrc2 at 320x240, HEVC with B-frames, in Matroska
std::string vp9_320();         // the same as VP9 in WebM
std::string size_change_ts();  // H.264 in MPEG-TS: 1 s at 160x120, then 1 s at 96x64
std::string square_clip();     // a white square moving right on black, 320x180, 50 frames
// The square clip tagged rotate=90 and rotate=270 (the stream copied, only the tag differs).
std::vector<std::string> rotate_tagged_square_clips();

struct Diff {
  double mean = 0, max = 0;
  double inner_max = 0;  // excluding a 2-pixel border
  int frames = 0;
  std::string where;     // of the largest difference
};
// Waits on the host for the work queued so far on `stream`.
void gpu_sync(uintptr_t stream);

// Every frame through NVDEC + the kernel (RGB on 0..255) against libavcodec + swscale, at full size or
// out_w x out_h; with `rotation` (clockwise, full size only) against swscale's frame turned.
Diff compare_rgb(const std::string& path, int out_w = 0, int out_h = 0, int rotation = 0);

struct Runs {
  std::vector<FrameResult> frames;
  RunSummary summary;
};
// One pipeline run of `inputs` on `device`; frames sorted by input (in the order given), each input's
// in frame order (checked).
Runs run(RunOptions o, const std::string& device, const std::vector<std::string>& inputs);

// The bundled colour-namer classifier, top-1.
RunOptions colour_namer();

// The bright-box detector (test::make_bright_box_detector) at 160x160, input on the 0..1 scale.
RunOptions bright_box_options(const std::string& model, ResizeMode mode);

// How many of `ref`'s detections `other` has on the same frame (same class, IoU >= 0.9); with `tag`,
// each one missed is printed.
struct Agreement {
  int matched = 0, total = 0;
};
Agreement agreement(const Runs& ref, const Runs& other, const char* tag = nullptr);

}  // namespace vidinfer::test::gpu
