// The modes vidinfer bench times (bench/modes.h): the usual pipeline, vidinfer's, and the model alone.
//
// The baseline below is written the way tutorials write a video inference loop, on purpose: it is
// the thing the product is measured against, so it is kept plain (libavcodec with its default
// threading, swscale to RGB24, one host-to-device copy per frame, LibTorch ops to resize and
// normalise, torch::cat into a batch) and not optimised. It uses the same model wrapper, precision
// and task head as the pipeline, so both compute the same thing.
#include "bench/modes.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include <torch/torch.h>

#include "bench/clock.h"
#include "common/av.h"
#include "common/cuda.h"
#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "infer/device_info.h"
#include "infer/model_stream.h"
#include "infer/model_trace.h"
#include "postprocess/heads.h"
#include "preprocess/geometry.h"
#include "vidinfer/error.h"

namespace vidinfer::bench {

// The usual pipeline (see the file comment).
ModeResult run_baseline(const RunOptions& o, Model& model, const std::vector<std::string>& inputs, Top1* top1) {
  const ModelSpec& spec = o.spec;
  const torch::Device dev = model.device();
  double t_demux = 0, t_decode = 0, t_rgb = 0, t_copy = 0, t_prep = 0, t_infer = 0, t_post = 0;
  ModeResult r;
  torch::NoGradGuard no_grad;
  const auto fopt = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  const torch::Tensor mean = torch::tensor({spec.mean[0], spec.mean[1], spec.mean[2]}, fopt).view({3, 1, 1});
  const torch::Tensor stdv = torch::tensor({spec.std[0], spec.std[1], spec.std[2]}, fopt).view({3, 1, 1});
  const auto start = Clock::now();
  for (const std::string& path : inputs) {
    std::vector<torch::Tensor> pending;
    std::vector<Geometry> geos;
    std::vector<int64_t> indices;
    auto flush = [&] {
      if (pending.empty()) return;
      auto t = Clock::now();
      torch::jit::IValue out = model.forward(torch::cat(pending));
      cuda_synchronize(dev);
      t_infer += since(t);
      t = Clock::now();
      if (o.task == Task::Classify) {
        auto per = classify_head(out, static_cast<int>(pending.size()),
                                 classify_params(o), o.labels);
        if (top1)
          for (size_t k = 0; k < per.size(); ++k)
            if (!per[k].empty()) (*top1)[{path, indices[k]}] = per[k][0].class_id;
      } else {
        detect_head(out, geos, detect_params(o), o.labels);
      }
      t_post += since(t);
      r.frames += static_cast<int64_t>(pending.size());
      pending.clear();
      geos.clear();
      indices.clear();
    };
    try {
      Demuxer demux(path);
      auto dec = make_cpu_decoder(demux.stream(), path, o.decode_threads);
      if (r.decoder.empty()) r.decoder = dec->name();
      UniqueAVPacket pkt = make_av_packet();
      UniqueAVFrame frame = make_av_frame();
      SwsContext* sws_raw = nullptr;
      UniqueSwsContext sws;
      std::vector<uint8_t> rgb;
      int64_t index = 0;
      bool more = true;
      while (true) {
        auto t = Clock::now();
        if (more) more = demux.read(pkt.get());
        t_demux += since(t);
        t = Clock::now();
        dec->send(more ? pkt.get() : nullptr);
        av_packet_unref(pkt.get());
        bool got = false;
        while (dec->receive(frame.get())) {
          got = true;
          t_decode += since(t);
          const int w = frame->width, h = frame->height;
          // RGB24 on the CPU.
          t = Clock::now();
          sws_raw = sws_getCachedContext(sws.release(), w, h, static_cast<AVPixelFormat>(frame->format), w, h,
                                         AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
          sws.reset(sws_raw);
          if (!sws) throw Error("cannot convert to RGB", path, "swscale refused the frame's format");
          rgb.resize(static_cast<size_t>(w) * h * 3);
          uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
          int dst_stride[4] = {w * 3, 0, 0, 0};
          sws_scale(sws.get(), frame->data, frame->linesize, 0, h, dst, dst_stride);
          t_rgb += since(t);
          // One copy per frame to the model's device.
          t = Clock::now();
          torch::Tensor x = torch::from_blob(rgb.data(), {h, w, 3}, torch::kUInt8).to(dev);
          t_copy += since(t);
          // Resize and normalise with LibTorch.
          t = Clock::now();
          const Geometry g = plan_geometry(w, h, spec);
          x = x.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0);
          x = torch::nn::functional::interpolate(
              x, torch::nn::functional::InterpolateFuncOptions()
                     .size(std::vector<int64_t>{g.scaled_h, g.scaled_w})
                     .mode(torch::kBilinear)
                     .align_corners(false));
          if (g.scaled_w != g.dst_w || g.scaled_h != g.dst_h || g.offset_x != 0 || g.offset_y != 0) {
            torch::Tensor canvas = torch::full({1, 3, g.dst_h, g.dst_w}, spec.letterbox_fill / 255.0, fopt);
            const int x0 = std::max(0, g.offset_x), y0 = std::max(0, g.offset_y);
            const int x1 = std::min(g.dst_w, g.offset_x + g.scaled_w), y1 = std::min(g.dst_h, g.offset_y + g.scaled_h);
            canvas.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0)
                .copy_(x.narrow(2, y0 - g.offset_y, y1 - y0).narrow(3, x0 - g.offset_x, x1 - x0));
            x = canvas;
          }
          if (spec.channels == ChannelOrder::BGR) x = x.flip({1});
          x = (x - mean) / stdv;
          t_prep += since(t);
          pending.push_back(x);
          geos.push_back(g);
          indices.push_back(index++);
          av_frame_unref(frame.get());
          if (static_cast<int>(pending.size()) == spec.batch) flush();
          t = Clock::now();
        }
        if (!got) t_decode += since(t);
        if (!more) break;
      }
      flush();
    } catch (const Error& e) {
      r.errors.push_back(e.what());
    }
  }
  r.seconds = since(start);
  r.stages = {{"demux", t_demux}, {"decode", t_decode}, {"rgb", t_rgb}, {"copy", t_copy},
              {"preprocess", t_prep}, {"infer", t_infer}, {"postprocess", t_post}};
  return r;
}

ModeResult run_vidinfer(Pipeline& p, const std::vector<std::string>& inputs, Top1* top1) {
  ModeResult r;
  std::mutex mu;
  std::map<std::string, double> first_received;  // live inputs: each stream's first result's receive time
  const auto start = Clock::now();
  RunSummary s = p.run(inputs, [&](const FrameResult& f) {
    if (top1 && !f.classes.empty()) {
      std::lock_guard lock(mu);
      (*top1)[{f.input, f.frame_index}] = f.classes[0].class_id;
    }
    if (f.latency >= 0) {
      std::lock_guard lock(mu);
      r.live_all.add(f.latency);
      const double first = first_received.emplace(f.input, f.received).first->second;
      if (f.received - first >= 1.0) r.live_settled.add(f.latency);
    }
  });
  r.seconds = since(start);
  r.frames = s.frames;
  r.stages = {{"demux", s.stages.demux}, {"decode", s.stages.decode}, {"preprocess", s.stages.preprocess},
              {"infer", s.stages.infer}, {"postprocess", s.stages.postprocess}};
  std::set<std::string> decoders;
  for (const auto& i : s.inputs) {
    if (i.status == InputStatus::Failed) r.errors.push_back(i.error);
    decoders.insert(i.decoder);
    if (i.live) r.live.push_back(*i.live);
  }
  for (const auto& d : decoders) r.decoder += (r.decoder.empty() ? "" : " | ") + d;
  return r;
}

// The model alone: the same number of frames as a constant batch on the model's device, in the
// model's precision, through the same head (its results to the host), on a stream like the pipeline's.
ModeResult run_model_only(const RunOptions& o, Model& model, int64_t frames) {
  ModeResult r;
  torch::NoGradGuard no_grad;
  ModelStream stream(model.device(), 0, o.tuning.stream_priority);
  ModelTrace mt(stream.handle(), o.tuning.trace);
  const torch::Tensor batch = torch::rand({o.spec.batch, 3, o.spec.height, o.spec.width},
                                          torch::TensorOptions().device(model.device()))
                                  .to(to_scalar_type(o.spec.dtype));
  const std::vector<Geometry> geos(o.spec.batch, plan_geometry(1920, 1080, o.spec));
  // As the pipeline runs the model (its ModelRunner): the head of a batch runs once the next
  // batch's forward is queued, on a second stream that waits for its own forward.
  const uintptr_t head_stream =
      o.tuning.overlap_head ? head_cuda_stream(model.device(), stream.handle(), o.tuning.stream_priority) : 0;
  const bool overlap = head_stream != 0;
  cuda::Event forwarded[2];
  if (overlap)
    for (auto& e : forwarded) e = cuda::Event::make();
  struct Out {
    torch::jit::IValue out;
    int n = 0, slot = 0;
    const cuda::Event* event = nullptr;
  };
  std::optional<Out> prev;
  double t_infer = 0, t_post = 0;
  const auto head = [&](Out& x) {
    const auto t = Clock::now();
    std::optional<ModelStream> hs;
    if (x.event) {
      hs.emplace(model.device(), head_stream);
      cuda::wait(hs->handle(), *x.event);
    }
    if (o.task == Task::Classify) {
      classify_head(x.out, x.n, classify_params(o), o.labels);
    } else {
      detect_head(x.out, std::vector<Geometry>(geos.begin(), geos.begin() + x.n), detect_params(o), o.labels);
    }
    t_post += since(t);
    mt.collect(x.slot);
    ++mt.batches;
    mt.frames += x.n;
  };
  cuda_synchronize(model.device());
  const auto start = Clock::now();
  int64_t k = 0;
  for (int64_t done = 0; done < frames; done += o.spec.batch, ++k) {
    Out cur;
    cur.n = static_cast<int>(std::min<int64_t>(o.spec.batch, frames - done));
    const auto t = Clock::now();
    cur.slot = mt.before_forward();
    cur.out = model.forward(cur.n == o.spec.batch ? batch : batch.narrow(0, 0, cur.n));
    mt.after_forward(cur.slot);
    t_infer += since(t);
    if (prev) head(*prev);
    prev.reset();
    if (overlap) {
      cur.event = &forwarded[k % 2];
      cur.event->record(stream.handle());
      prev = std::move(cur);
    } else {
      head(cur);
    }
  }
  if (prev) head(*prev);
  cuda_synchronize(model.device());
  r.seconds = since(start);
  r.frames = frames;
  mt.forward = t_infer;
  mt.post = t_post;
  mt.print(overlap ? "model only (head overlapping the next forward)" : "model only");
  r.stages = {{"infer", t_infer}, {"postprocess", t_post}};
  return r;
}

}  // namespace vidinfer::bench
