#include "gpu_support.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/cuda.h"
#include "decode/decoder.h"
#include "decode/nvdec_caps.h"
#include "demux/demuxer.h"
#include "infer/device_info.h"
#include "infer/model.h"
#include "preprocess/cpu_preprocessor.h"
#include "preprocess/gpu_preprocessor.h"
#include "support.h"

namespace vidinfer::test::gpu {

std::string why_no_gpu() {
  if (!cuda::kernels_available()) return "built without CUDA kernels";
  if (!torch::cuda::is_available()) return "no CUDA GPU visible to LibTorch";
  const auto s = nvdec_supports(AV_CODEC_ID_H264, AV_PIX_FMT_YUV420P, 1920, 1080);
  if (!s.supported) return "no NVDEC: " + s.reason;
  return "";
}


std::string sample() { return std::string(VIDINFER_SOURCE_DIR) + "/data/sample.mp4"; }  // BT.709 limited

// Every frame through NVDEC + the kernel at full size (RGB on 0..255) against libavcodec + swscale.
// With `rotation` (clockwise, at full size only): the kernel's turned frame against swscale's frame
// turned by torch::rot90.
void gpu_sync(uintptr_t stream) {
  const cuda::Event ev = cuda::Event::make();
  ev.record(stream);
  ev.synchronize();
}

std::string sample_hevc10() {
  return test::clip("sample-hevc10", "mkv", "-i " + test::q(sample()) + " -frames:v 60 -c:v libx265 -preset ultrafast "
                    "-pix_fmt yuv420p10le -x265-params log-level=error -colorspace bt709 -color_primaries bt709 "
                    "-color_trc bt709");
}

Diff compare_rgb(const std::string& path, int out_w, int out_h, int rotation) {
  Demuxer demux(path);
  auto gpu = make_nvdec_decoder(demux.stream(), path, NvdecOptions{});
  const auto cpu = test::decode_all(path);
  ModelSpec spec;
  const bool quarter = rotation % 180 != 0;
  const int cw = demux.stream().codecpar->width, chh = demux.stream().codecpar->height;
  spec.width = out_w ? out_w : quarter ? chh : cw;
  spec.height = out_h ? out_h : quarter ? cw : chh;
  spec.mean = {0, 0, 0};
  spec.std = {1.f / 255, 1.f / 255, 1.f / 255};
  GpuPreprocessor pre(spec);
  auto out = torch::empty({3, spec.height, spec.width}, torch::TensorOptions().device(torch::kCUDA).dtype(torch::kFloat));
  auto pkt = make_av_packet();
  auto frame = make_av_frame();
  Diff d;
  double sum = 0;
  int64_t count = 0;
  auto take = [&] {
    while (gpu->receive(frame.get())) {
      EXPECT_TRUE(is_device_frame(frame.get()));
      pre.run(frame.get(), reinterpret_cast<uintptr_t>(out.data_ptr()), gpu->cuda_stream(), rotation);
      {
        const cuda::Event ev = cuda::Event::make();
        ev.record(gpu->cuda_stream());
        ev.synchronize();
      }
      auto host = out.cpu().permute({1, 2, 0}).contiguous();  // HWC
      const int rw = quarter ? spec.height : spec.width, rh = quarter ? spec.width : spec.height;
      const auto ref = frame_to_rgb24(cpu.frames.at(d.frames).get(), rw, rh);
      auto reft = torch::from_blob(const_cast<uint8_t*>(ref.data()), {rh, rw, 3}, torch::kUInt8).to(torch::kFloat);
      if (rotation) reft = torch::rot90(reft, -rotation / 90, {0, 1}).contiguous();  // k < 0: clockwise
      auto diff = (host - reft).abs();
      sum += diff.sum().item<double>();
      count += diff.numel();
      const double m = diff.max().item<double>();
      if (m > d.max) {
        const int64_t at = diff.argmax().item<int64_t>();
        const int64_t px = at / 3, ch = at % 3, y = px / spec.width, x = px % spec.width;
        char buf[160];
        std::snprintf(buf, sizeof buf, "frame %d x %lld y %lld ch %lld gpu %.1f cpu %.1f", d.frames, (long long)x,
                      (long long)y, (long long)ch, host[y][x][ch].item<float>(), reft[y][x][ch].item<float>());
        d.where = buf;
        d.max = m;
      }
      d.inner_max = std::max(d.inner_max, diff.slice(0, 2, spec.height - 2).slice(1, 2, spec.width - 2).max().item<double>());
      ++d.frames;
    }
  };
  while (demux.read(pkt.get())) {
    gpu->send(pkt.get());
    take();
  }
  gpu->send(nullptr);
  take();
  d.mean = sum / std::max<int64_t>(count, 1);
  EXPECT_EQ(static_cast<size_t>(d.frames), cpu.frames.size());
  return d;
}

Runs run(RunOptions o, const std::string& device, const std::vector<std::string>& inputs) {
  o.device = Device::parse(device);
  Pipeline p(o);
  Runs r;
  r.summary = p.run(inputs, [&](const FrameResult& f) { r.frames.push_back(f); });
  // Inputs run at once and their results interleave; each input's come in frame order, which the
  // stable sort keeps (and checks below compare frame by frame).
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < inputs.size(); ++i) position.emplace(inputs[i], i);
  std::stable_sort(r.frames.begin(), r.frames.end(),
                   [&](const FrameResult& a, const FrameResult& b) { return position[a.input] < position[b.input]; });
  for (size_t i = 1; i < r.frames.size(); ++i) {
    if (r.frames[i].input == r.frames[i - 1].input) {
      EXPECT_GT(r.frames[i].frame_index, r.frames[i - 1].frame_index) << r.frames[i].input << ": out of order";
    }
  }
  return r;
}

RunOptions colour_namer() {
  RunOptions o;
  o.model_path = VIDINFER_DATA_DIR "/models/colour-namer.pt";
  const Sidecar s = load_model_sidecar(o.model_path);
  o.spec = s.spec;
  o.labels = s.labels;
  o.topk = 1;
  return o;
}

// Clips and helpers that several GPU test files use.

std::string hevc_320() {
  return test::clip("hevc-320", "mkv", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -c:v libx265 "
                    "-preset ultrafast -x265-params bframes=3:log-level=error -pix_fmt yuv420p");
}
std::string vp9_320() {
  return test::clip("vp9-320", "webm", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -c:v libvpx-vp9 "
                    "-deadline realtime -cpu-used 8 -b:v 500k -pix_fmt yuv420p");
}
std::string size_change_ts() {
  const std::string a = test::clip("size-a", "ts", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=1 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  const std::string b = test::clip("size-b", "ts", "-f lavfi -i testsrc2=size=96x64:rate=30:duration=1 "
                                   "-c:v libx264 -preset ultrafast -pix_fmt yuv420p");
  return test::join_files(a, b, test::data_file("size-change.ts"));
}

// A white square moving right on black, 320x180, 50 frames (the CPU pipeline test's clip too).
std::string square_clip() {
  return test::clip("moving-square", "mp4",
                    "-f lavfi -i \"color=black:s=320x180:r=25:d=2,format=yuv420p,"
                    "geq=lum='if(between(X,20+4*N,59+4*N)*between(Y,70,109),235,16)':cb=128:cr=128\" "
                    "-c:v libx264 -preset ultrafast -crf 12 -pix_fmt yuv420p");
}

// The bright-box detector (test::make_bright_box_detector) at 160x160, input on the 0..1 scale.
RunOptions bright_box_options(const std::string& model, ResizeMode mode) {
  RunOptions o;
  o.model_path = model;
  o.task = Task::Detect;
  o.spec.width = o.spec.height = 160;
  o.spec.resize = mode;
  o.spec.mean = {0, 0, 0};
  o.spec.std = {1, 1, 1};
  return o;
}

// The square clip tagged rotate=90 and rotate=270 (the stream copied, only the tag differs).
std::vector<std::string> rotate_tagged_square_clips() {
  const std::string square = square_clip();
  std::vector<std::string> tagged;
  for (const char* tag : {"90", "270"})
    tagged.push_back(test::clip(std::string("square-rotate") + tag, "mp4",
                                "-i " + test::q(square) + " -c copy -metadata:s:v:0 rotate=" + tag));
  return tagged;
}

namespace {

double iou(const Detection& a, const Detection& b) {
  const double iw = std::max(0.f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const double ih = std::max(0.f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  const double inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

}  // namespace

Agreement agreement(const Runs& ref, const Runs& other, const char* tag) {
  Agreement a;
  for (size_t i = 0; i < ref.frames.size() && i < other.frames.size(); ++i)
    for (const auto& r : ref.frames[i].detections) {
      ++a.total;
      double best = 0;
      for (const auto& o : other.frames[i].detections)
        if (o.class_id == r.class_id) best = std::max(best, iou(o, r));
      if (best >= 0.9) ++a.matched;
      else if (tag)
        std::printf("[ %s] missed: frame %lld %s %.4f (best same-class IoU %.3f)\n", tag,
                    static_cast<long long>(ref.frames[i].frame_index), r.label.c_str(), r.score, best);
    }
  return a;
}

}  // namespace vidinfer::test::gpu
