// The GPU preprocessing kernels against swscale (the CPU path's colour conversion and resize): the
// colour of each kind of stream at its own size, resizes (one side kept, both changed, large
// downscales), and the separable kernel against the direct one. Clips are made before the GPU check,
// so that a run here without a GPU leaves them cached for the GPU machine, whose FFmpeg cannot encode.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "common/cuda.h"
#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "infer/model.h"
#include "preprocess/geometry.h"
#include "preprocess/gpu_preprocessor.h"
#include "gpu_support.h"
#include "support.h"

namespace vidinfer {
namespace {

using test::gpu::compare_rgb;
using test::gpu::gpu_sync;
using test::gpu::Diff;
using test::gpu::sample;
using test::gpu::sample_hevc10;
using test::gpu::why_no_gpu;

std::string sample_601_full() {
  return test::clip("sample-601-full", "mp4", "-i " + test::q(sample()) + " -frames:v 60 -vf "
                    "scale=out_color_matrix=bt601:out_range=full -c:v libx264 -preset ultrafast -pix_fmt yuv420p "
                    "-colorspace smpte170m -color_range pc");
}

struct ColourCase {
  const char* name;
  std::string (*make)();
};
class GpuColour : public ::testing::TestWithParam<ColourCase> {};

// Inputs are made before the GPU check so that a run without a GPU leaves them cached for the GPU
// machine, whose FFmpeg cannot encode.
TEST_P(GpuColour, MatchesSwscaleWithinOneLevelOnAverage) {
  const std::string clip = GetParam().make();
  REQUIRE_GPU();
  const Diff d = compare_rgb(clip);
  std::printf("[ colour   ] %s: mean %.3f max %.1f (inner %.1f) over %d frames; worst: %s\n", GetParam().name, d.mean,
              d.max, d.inner_max, d.frames, d.where.c_str());
  EXPECT_LE(d.mean, 1.0);
  EXPECT_LE(d.max, 4.0);
}

// The same with the resize the bundled detector uses (stretch to 512x512, a 1.25x downscale of the
// 640x360 sample horizontally and a 1.4x upscale vertically).
TEST(GpuColourResized, MatchesSwscaleWithinOneLevelOnAverage) {
  REQUIRE_GPU();
  const Diff d = compare_rgb(sample(), 512, 512);
  std::printf("[ colour   ] resized to 512x512: mean %.3f max %.1f (inner %.1f) over %d frames; worst: %s\n", d.mean,
              d.max, d.inner_max, d.frames, d.where.c_str());
  EXPECT_LE(d.mean, 1.0);
  EXPECT_LE(d.max, 4.0);
}

// A resize that keeps one side: swscale sites the chroma by whether the height is kept, whatever the
// width does (sharp colour edges of testsrc2 show it: 86 levels apart where the kernel went by both
// sides), and alike across either way.
TEST(GpuColourResized, OneSideKeptMatchesSwscale) {
  const std::string bars = test::media::h264_mp4();  // testsrc2, 160x120
  REQUIRE_GPU();
  for (auto [clip, w, h] : {std::tuple{bars, 96, 120}, std::tuple{bars, 320, 120}, std::tuple{bars, 160, 96},
                            std::tuple{bars, 160, 240}, std::tuple{sample(), 512, 360}}) {
    const Diff d = compare_rgb(clip, w, h);
    std::printf("[ colour   ] %s to %dx%d: mean %.3f max %.1f (inner %.1f) over %d frames; worst: %s\n",
                clip == bars ? "testsrc2 160x120" : "sample 640x360", w, h, d.mean, d.max, d.inner_max, d.frames,
                d.where.c_str());
    EXPECT_LE(d.mean, 1.0) << w << "x" << h;
    EXPECT_LE(d.max, 4.0) << w << "x" << h;
  }
}

// A 1080p clip (the size the benchmarks decode), made from the sample.
std::string sample_1080() {
  return test::clip("sample-1080", "mp4", "-i " + test::q(sample()) + " -frames:v 24 -vf scale=1920:1080 -c:v libx264 "
                    "-preset ultrafast -pix_fmt yuv420p -colorspace bt709 -color_primaries bt709 -color_trc bt709");
}

// A large downscale, as classifiers and detectors take 1080p video: 1920x1080 to 224x224 (8.6x
// across, 4.8x down) and to 512x512 letterboxed by the pipeline's geometry elsewhere; here stretched.
TEST(GpuColourResized, LargeDownscaleMatchesSwscale) {
  const std::string clip = sample_1080();
  REQUIRE_GPU();
  for (auto [w, h] : {std::pair{224, 224}, std::pair{512, 288}}) {
    const Diff d = compare_rgb(clip, w, h);
    std::printf("[ colour   ] 1920x1080 resized to %dx%d: mean %.3f max %.1f (inner %.1f) over %d frames; worst: %s\n", w,
                h, d.mean, d.max, d.inner_max, d.frames, d.where.c_str());
    EXPECT_LE(d.mean, 1.0) << w << "x" << h;
  }
}

// The separable kernel (the default where it fits) gives the direct kernel's values: the same
// filter, summed in another order, so a value may land on the other side of an 8-bit rounding.
// Held to: at most one level apart, at under 1% of the values. Sizes, rotations (0 and 180; a
// quarter turn goes to the direct kernel), letterbox and crop offsets, every output dtype, 10-bit.
TEST(GpuPreprocessKernels, SeparableGivesTheDirectKernelsValues) {
  const std::string c1080 = sample_1080(), c10 = sample_hevc10();
  REQUIRE_GPU();
  struct Case {
    std::string clip;
    int w, h, rotation;
    ResizeMode resize;
    DType dtype;
  };
  const std::vector<Case> cases = {
      {c1080, 224, 224, 0, ResizeMode::Stretch, DType::Float32},
      {c1080, 224, 224, 180, ResizeMode::CenterCrop, DType::BFloat16},
      {c1080, 512, 512, 0, ResizeMode::Letterbox, DType::Float16},
      {c1080, 640, 640, 180, ResizeMode::Letterbox, DType::Float32},
      {sample(), 512, 512, 0, ResizeMode::Stretch, DType::Float32},  // 1.25x down, 1.4x up
      {sample(), 640, 360, 0, ResizeMode::Stretch, DType::Float32},  // 1:1
      {c10, 300, 200, 0, ResizeMode::Letterbox, DType::Float16},
      {c10, 320, 320, 90, ResizeMode::Letterbox, DType::Float32},    // direct on both sides
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.clip + " to " + std::to_string(k.w) + "x" + std::to_string(k.h) + " turned " +
                 std::to_string(k.rotation));
    Demuxer demux(k.clip);
    auto gpu = make_nvdec_decoder(demux.stream(), k.clip, NvdecOptions{});
    ModelSpec spec;
    spec.width = k.w;
    spec.height = k.h;
    spec.resize = k.resize;
    spec.dtype = k.dtype;
    spec.mean = {0, 0, 0};
    spec.std = {1.f / 255, 1.f / 255, 1.f / 255};
    GpuPreprocessor direct(spec), separable(spec);
    direct.kernel = 1;
    separable.kernel = 0;
    const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(to_scalar_type(k.dtype));
    auto a = torch::empty({3, k.h, k.w}, opts), b = torch::empty({3, k.h, k.w}, opts);
    auto pkt = make_av_packet();
    auto frame = make_av_frame();
    int frames = 0, choice = -1;
    double worst = 0;
    int64_t differing = 0, total = 0;
    auto take = [&] {
      while (gpu->receive(frame.get())) {
        const auto [fw, fh] = shown_size(frame.get());
        const Geometry g = plan_geometry(fw, fh, spec, k.rotation);
        choice = cuda::preprocess_kernel_choice(separable.params(frame.get(), g, 0));
        direct.run(frame.get(), reinterpret_cast<uintptr_t>(a.data_ptr()), gpu->cuda_stream(), k.rotation);
        separable.run(frame.get(), reinterpret_cast<uintptr_t>(b.data_ptr()), gpu->cuda_stream(), k.rotation);
        gpu_sync(gpu->cuda_stream());
        const auto diff = (a.to(torch::kFloat) - b.to(torch::kFloat)).abs();
        worst = std::max(worst, diff.max().item<double>());
        // Half a level: more than the output dtype's rounding at these magnitudes, less than a level.
        differing += (diff > 0.5).sum().item<int64_t>();
        total += diff.numel();
        ++frames;
      }
    };
    while (demux.read(pkt.get())) {
      gpu->send(pkt.get());
      take();
    }
    gpu->send(nullptr);
    take();
    const double share = 100.0 * differing / std::max<int64_t>(total, 1);
    std::printf("[ kernels  ] %s %dx%d turned %d: kernel %d, max |diff| %.3f levels, %.4f%% of values differ over %d "
                "frames\n", k.clip.substr(k.clip.rfind('/') + 1).c_str(), k.w, k.h, k.rotation, choice, worst, share,
                frames);
    EXPECT_GT(frames, 0);
    EXPECT_EQ(choice, k.rotation % 180 ? 1 : 2);
    // bfloat16 keeps 8 bits of mantissa: a level apart in the input is up to 2 apart near 255.
    EXPECT_LE(worst, k.dtype == DType::BFloat16 ? 2.01 : 1.01);
    EXPECT_LT(share, 1.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Content, GpuColour,
                         ::testing::Values(ColourCase{"h264_bt709_limited", &sample},
                                           ColourCase{"hevc10_bt709_limited", &sample_hevc10},
                                           ColourCase{"h264_bt601_full", &sample_601_full}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace vidinfer
