// The preprocessing kernels alone: GPU time per 1080p frame of the direct and the separable kernel
// for the model inputs the benchmarks use, and how far apart their outputs are. Runs on the GPU
// machine (it needs LibTorch with CUDA to allocate device memory); elsewhere it says why it cannot.
//   vidinfer-preprocess-kernels [--frames N]
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/av.h"
#include "infer/model.h"
#include "infer/model_stream.h"
#include "common/cuda.h"
#include "preprocess/cuda_preprocess.h"
#include "preprocess/geometry.h"
#include "preprocess/gpu_preprocessor.h"

using namespace vidinfer;

namespace {

// GPU milliseconds per launch of `p`, over n launches handed in turn to `streams` (one stream: each
// kernel alone, its latency; several: kernels side by side, as 8 decoders' are, their throughput).
double time_kernel(const cuda::PreprocessParams& p, const std::vector<uintptr_t>& streams, int n) {
  const cuda::Event a = cuda::Event::make(cuda::Event::Timing::On), b = cuda::Event::make(cuda::Event::Timing::On);
  std::vector<cuda::Event> done;
  for (size_t k = 0; k < streams.size(); ++k) done.push_back(cuda::Event::make());
  for (int i = 0; i < 20; ++i) cuda::launch_preprocess(p, streams[0]);
  a.record(streams[0]);
  for (size_t k = 1; k < streams.size(); ++k) cuda::wait(streams[k], a);
  for (int i = 0; i < n; ++i) cuda::launch_preprocess(p, streams[i % streams.size()]);
  for (size_t k = 1; k < streams.size(); ++k) {
    done[k].record(streams[k]);
    cuda::wait(streams[0], done[k]);
  }
  b.record(streams[0]);
  b.synchronize();
  return cuda::Event::elapsed_ms(a, b) / n;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--frames") && i + 1 < argc) n = std::atoi(argv[++i]);
  if (!cuda::kernels_available() || !torch::cuda::is_available()) {
    std::fprintf(stderr, "vidinfer-preprocess-kernels: needs a GPU, LibTorch with CUDA and the CUDA kernels\n");
    return 1;
  }
  const int w = 1920, h = 1080, pitch = 2048;
  // A smooth picture with noise (the timing does not depend on it; the comparison does a little).
  auto yy = torch::arange(h + h / 2, torch::kFloat).unsqueeze(1), xx = torch::arange(pitch, torch::kFloat).unsqueeze(0);
  auto img = (128 + 60 * torch::sin(xx / 37) * torch::cos(yy / 23) + 20 * torch::rand({h + h / 2, pitch}))
                 .clamp(0, 255)
                 .to(torch::kUInt8)
                 .to(torch::kCUDA);
  auto frame = make_av_frame();
  frame->width = w;
  frame->height = h;
  frame->format = AV_PIX_FMT_NV12;
  frame->data[0] = img.data_ptr<uint8_t>();
  frame->data[1] = img.data_ptr<uint8_t>() + static_cast<size_t>(pitch) * h;
  frame->linesize[0] = frame->linesize[1] = pitch;
  frame->colorspace = AVCOL_SPC_BT709;
  frame->color_range = AVCOL_RANGE_MPEG;
  const uintptr_t stream = pool_cuda_stream(torch::Device(torch::kCUDA, 0));
  std::vector<uintptr_t> eight;
  for (int i = 0; i < 8; ++i) eight.push_back(pool_cuda_stream(torch::Device(torch::kCUDA, 0)));

  struct Case {
    const char* name;
    int w, h;
    ResizeMode resize;
    DType dtype;
  };
  const std::vector<Case> cases = {
      {"224x224 stretch bf16 (ResNet-50)", 224, 224, ResizeMode::Stretch, DType::BFloat16},
      {"224x224 centre crop bf16", 224, 224, ResizeMode::CenterCrop, DType::BFloat16},
      {"512x512 letterbox fp16 (CenterNet)", 512, 512, ResizeMode::Letterbox, DType::Float16},
      {"640x640 letterbox fp32", 640, 640, ResizeMode::Letterbox, DType::Float32},
      {"1920x1080 fp16 (no resize)", 1920, 1080, ResizeMode::Stretch, DType::Float16},
  };
  std::printf("GPU us per frame: alone (one stream) / side by side (8 streams)\n");
  std::printf("%-36s %13s %13s %8s %s\n", "model input (from 1920x1080 NV12)", "direct", "separable", "ratio",
              "max |diff| (levels)");
  for (const Case& c : cases) {
    ModelSpec spec;
    spec.width = c.w;
    spec.height = c.h;
    spec.resize = c.resize;
    spec.dtype = c.dtype;
    GpuPreprocessor pre(spec);
    const Geometry g = plan_geometry(w, h, spec);
    const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(to_scalar_type(c.dtype));
    auto a = torch::empty({3, c.h, c.w}, opts), b = torch::empty({3, c.h, c.w}, opts);
    cuda::PreprocessParams pa = pre.params(frame.get(), g, reinterpret_cast<uintptr_t>(a.data_ptr()));
    cuda::PreprocessParams pb = pre.params(frame.get(), g, reinterpret_cast<uintptr_t>(b.data_ptr()));
    pa.kernel = 1;
    pb.kernel = 0;
    const double a1 = time_kernel(pa, {stream}, n) * 1e3, a8 = time_kernel(pa, eight, n) * 1e3;
    const double b1 = time_kernel(pb, {stream}, n) * 1e3, b8 = time_kernel(pb, eight, n) * 1e3;
    char da[32], db[32];
    std::snprintf(da, sizeof da, "%.1f/%.1f", a1, a8);
    std::snprintf(db, sizeof db, "%.1f/%.1f", b1, b8);
    const bool sep = cuda::preprocess_kernel_choice(pb) == 2;
    cuda::launch_preprocess(pa, stream);
    cuda::launch_preprocess(pb, stream);
    torch::cuda::synchronize();
    // Normalised values, shown in 8-bit levels (std 1 level of the default spec is 1/255 / std).
    const double diff = (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>() * 255 * 0.226;
    std::printf("%-36s %13s %13s %8.2f %.3f%s\n", c.name, da, db, a8 / b8, diff,
                sep ? "" : "  (separable does not fit: direct)");
  }
  return 0;
}
