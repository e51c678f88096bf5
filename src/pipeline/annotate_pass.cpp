#include "pipeline/annotate_pass.h"

#include <cstdio>
#include <memory>

#include "decode/decoder.h"
#include "decode/nvdec_caps.h"
#include "demux/demuxer.h"
#include "output/annotate.h"
#include "preprocess/cpu_preprocessor.h"
#include "common/cuda.h"
#include "preprocess/gpu_preprocessor.h"

namespace vidinfer {

std::string input_stem(const std::string& path) {
  const auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const auto dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name = name.substr(0, dot);
  return name;
}

RgbSource::RgbSource(int device, uintptr_t stream) : device_(device), stream_(stream) {}
RgbSource::~RgbSource() = default;

torch::Tensor RgbSource::operator()(const AVFrame* f, int w, int h) {
    if (!is_device_frame(f)) {
      auto v = frame_to_rgb24(f, w, h);
      return torch::from_blob(v.data(), {h, w, 3}, torch::kUInt8).clone();
    }
    if (!gpu_ || spec_.width != w || spec_.height != h) {
      spec_ = ModelSpec{};
      spec_.width = w;
      spec_.height = h;
      spec_.resize = ResizeMode::Stretch;
      spec_.mean = {0.f, 0.f, 0.f};
      spec_.std = {1.f / 255.f, 1.f / 255.f, 1.f / 255.f};
      spec_.dtype = DType::Float32;
      gpu_ = std::make_unique<GpuPreprocessor>(spec_);
      planes_ = torch::empty({3, h, w}, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA, device_));
    }
    gpu_->run(f, reinterpret_cast<uintptr_t>(planes_.data_ptr()), stream_);
    const cuda::Event ev = cuda::Event::make();
    ev.record(stream_);
    ev.synchronize();
    return planes_.round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
}

void annotate_input(const AnnotateTarget& t, const std::map<int64_t, std::vector<Detection>>& found) {
  if (found.empty() || (t.video.empty() && t.frames_dir.empty())) return;
  Demuxer demux(t.input);
  const StreamInfo& st = demux.stream();
  std::unique_ptr<Decoder> dec;
  if (t.gpu && cuda::kernels_available()) {
    const auto fmt = static_cast<AVPixelFormat>(st.codecpar->format);
    if (nvdec_supports(st.codecpar->codec_id, fmt == AV_PIX_FMT_NONE ? AV_PIX_FMT_YUV420P : fmt, st.codecpar->width,
                       st.codecpar->height, t.device)
            .supported)
    {
      NvdecOptions nvdec;
      nvdec.device = t.device;
      dec = make_nvdec_decoder(st, t.input, nvdec);
    }
  }
  if (!dec) dec = make_cpu_decoder(st, t.input, t.decode_threads);
  RgbSource rgb(t.device, dec->cuda_stream());

  const int64_t first = found.begin()->first, last = found.rbegin()->first + std::max<int64_t>(1, t.every) - 1;
  const std::string stem = input_stem(t.input);
  std::unique_ptr<VideoWriter> writer;
  int w = 0, h = 0;
  int64_t index = 0;
  bool done = false;
  auto frame = make_av_frame();
  auto pkt = make_av_packet();
  auto take = [&] {
    const int64_t i = index++;
    if (i < first) return;
    if (i > last) {
      done = true;
      return;
    }
    const bool still = !t.frames_dir.empty() && found.count(i);
    if (t.video.empty() && !still) return;
    if (!w) {  // the video keeps the first frame's size; later sizes are scaled to it
      w = frame->width;
      h = frame->height;
    }
    auto it = found.upper_bound(i);
    --it;  // the latest processed frame at or before this one
    auto img = rgb(frame.get(), w, h);
    std::vector<Detection> dets = it->second;
    if (frame->width != w || frame->height != h)
      for (auto& d : dets) {
        const float sx = static_cast<float>(w) / frame->width, sy = static_cast<float>(h) / frame->height;
        d.x1 *= sx, d.x2 *= sx, d.y1 *= sy, d.y2 *= sy;
      }
    draw_detections(img, dets);
    auto host = img.to(torch::kCPU).contiguous();
    if (!t.video.empty()) {
      if (!writer) {
        const AVRational fr = st.frame_rate.num > 0 ? st.frame_rate : AVRational{30, 1};
        writer = std::make_unique<VideoWriter>(t.video, w, h, st.time_base, fr);
      }
      writer->write(host.data_ptr<uint8_t>(), w * 3, frame->best_effort_timestamp);
    }
    if (still) {
      char name[64];
      std::snprintf(name, sizeof name, "-%06lld.png", static_cast<long long>(i));
      write_png(t.frames_dir + "/" + stem + name, host.data_ptr<uint8_t>(), w, h, w * 3);
    }
  };
  while (!done && demux.read(pkt.get())) {
    dec->send(pkt.get());
    while (!done && dec->receive(frame.get())) take();
  }
  if (!done) {
    dec->send(nullptr);
    while (!done && dec->receive(frame.get())) take();
  }
  if (writer) writer->finish();
}

}  // namespace vidinfer
