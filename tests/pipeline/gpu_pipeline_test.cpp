// The GPU path against the CPU path on the same inputs (run on a machine with an NVIDIA GPU; every
// test skips with the reason elsewhere). Expected values come from the CPU path (libavcodec +
// swscale), an independent implementation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <algorithm>

#include "decode/decoder.h"
#include "decode/nvdec_caps.h"
#include "demux/demuxer.h"
#include "output/annotate.h"
#include "postprocess/heads.h"
#include "pipeline/annotate_pass.h"
#include "gpu_support.h"
#include "support.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

using test::gpu::agreement;
using test::gpu::Agreement;
using test::gpu::bright_box_options;
using test::gpu::colour_namer;
using test::gpu::compare_rgb;
using test::gpu::Diff;
using test::gpu::hevc_320;
using test::gpu::rotate_tagged_square_clips;
using test::gpu::run;
using test::gpu::Runs;
using test::gpu::sample;
using test::gpu::size_change_ts;
using test::gpu::square_clip;
using test::gpu::vp9_320;
using test::gpu::why_no_gpu;

std::string av1_320() {
  return test::clip("av1-320", "mkv", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 -c:v libaom-av1 "
                    "-cpu-used 8 -usage realtime -b:v 500k -pix_fmt yuv420p");
}

TEST(GpuPipeline, SameFramesOrderAndTimestampsAsTheCpuPath) {
  const std::vector<std::string> inputs = {sample(), test::media::h264_mp4(), test::media::h264_ts(), hevc_320(),
                                           vp9_320(), size_change_ts()};
  REQUIRE_GPU();
  const auto gpu = run(colour_namer(), "cuda", inputs);
  const auto cpu = run(colour_namer(), "cpu", inputs);
  ASSERT_EQ(gpu.frames.size(), cpu.frames.size());
  for (size_t i = 0; i < gpu.frames.size(); ++i) {
    EXPECT_EQ(gpu.frames[i].input, cpu.frames[i].input);
    EXPECT_EQ(gpu.frames[i].frame_index, cpu.frames[i].frame_index);
    EXPECT_NEAR(gpu.frames[i].pts, cpu.frames[i].pts, 1e-6) << i;
    EXPECT_EQ(gpu.frames[i].width, cpu.frames[i].width) << i;
  }
  for (const auto& in : gpu.summary.inputs) {
    EXPECT_EQ(in.status, InputStatus::Ok) << in.error;
    EXPECT_EQ(in.decoder.rfind("gpu (NVDEC", 0), 0u) << in.input << ": " << in.decoder;
  }
  EXPECT_EQ(gpu.summary.host_to_device_bytes, 0) << "no frame data may cross PCIe on the GPU path";
}

// AV1: the GPU machine's FFmpeg has no AV1 software decoder, so the reference is the container:
// as many frames as packets, timestamps equal to the packets' (sorted) presentation times.
TEST(GpuPipeline, Av1DecodesOnNvdec) {
  const std::string clip = av1_320();
  REQUIRE_GPU();
  const auto caps = nvdec_supports(AV_CODEC_ID_AV1, AV_PIX_FMT_YUV420P, 320, 240);
  if (!caps.supported) GTEST_SKIP() << caps.reason;
  Demuxer demux(clip);
  std::vector<double> pts;
  auto pkt = make_av_packet();
  while (demux.read(pkt.get())) pts.push_back(demux.to_seconds(pkt->pts));
  std::sort(pts.begin(), pts.end());
  const auto r = run(colour_namer(), "cuda", {clip});
  ASSERT_EQ(r.summary.inputs[0].status, InputStatus::Ok) << r.summary.inputs[0].error;
  EXPECT_EQ(r.summary.inputs[0].decoder, "gpu (NVDEC av1)");
  ASSERT_EQ(r.frames.size(), pts.size());
  for (size_t i = 0; i < pts.size(); ++i) EXPECT_NEAR(r.frames[i].pts, pts[i], 1e-6) << i;
}

TEST(GpuPipeline, ClassificationAgreesWithTheCpuPath) {
  REQUIRE_GPU();
  const auto gpu = run(colour_namer(), "cuda", {sample()});
  const auto cpu = run(colour_namer(), "cpu", {sample()});
  ASSERT_EQ(gpu.frames.size(), 320u);
  ASSERT_EQ(cpu.frames.size(), 320u);
  int same = 0;
  for (size_t i = 0; i < gpu.frames.size(); ++i) same += gpu.frames[i].classes[0].class_id == cpu.frames[i].classes[0].class_id;
  std::printf("[ classify ] top-1 agreement %d / %zu\n", same, gpu.frames.size());
  EXPECT_GE(same, static_cast<int>(std::ceil(0.99 * gpu.frames.size())));
}

// --apply-rotation on the GPU path: the kernel turns the frame as swscale + a turn do.
TEST(GpuPipeline, TurnedFramesMatchSwscaleTurned) {
  REQUIRE_GPU();
  for (int rotation : {90, 180, 270}) {
    const Diff d = compare_rgb(sample(), 0, 0, rotation);
    std::printf("[ colour   ] turned %d: mean %.3f max %.1f over %d frames; worst: %s\n", rotation, d.mean, d.max,
                d.frames, d.where.c_str());
    EXPECT_LE(d.mean, 1.0) << rotation;
    EXPECT_LE(d.max, 4.0) << rotation;
  }
}

// And through the pipeline: a clip tagged rotate=90 / 270 gives the CPU path's boxes and sizes.
TEST(GpuPipeline, ApplyRotationAgreesWithTheCpuPath) {
  test::TempDir dir;
  test::make_bright_box_detector(dir.file("d.pt"));
  const std::vector<std::string> tagged = rotate_tagged_square_clips();
  REQUIRE_GPU();
  RunOptions o = bright_box_options(dir.file("d.pt"), ResizeMode::Letterbox);
  o.apply_rotation = true;
  const auto gpu = run(o, "cuda", tagged);
  const auto cpu = run(o, "cpu", tagged);
  ASSERT_EQ(gpu.frames.size(), 100u);
  ASSERT_EQ(cpu.frames.size(), 100u);
  for (size_t i = 0; i < gpu.frames.size(); ++i) {
    EXPECT_EQ(gpu.frames[i].width, 180);
    EXPECT_EQ(gpu.frames[i].height, 320);
  }
  EXPECT_NE(gpu.summary.inputs[0].decoder.find("gpu"), std::string::npos) << gpu.summary.inputs[0].decoder;
  const Agreement a = agreement(cpu, gpu);
  std::printf("[ detect   ] turned: %d / %d CPU detections matched (IoU >= 0.9)\n", a.matched, a.total);
  EXPECT_GE(a.total, 100);
  EXPECT_GE(a.matched, static_cast<int>(std::ceil(0.98 * a.total)));
}

TEST(GpuPipeline, DetectionsAgreeWithTheCpuPath) {
  test::TempDir dir;
  test::make_bright_box_detector(dir.file("d.pt"));
  const std::string clip = square_clip();
  REQUIRE_GPU();
  for (ResizeMode mode : {ResizeMode::Stretch, ResizeMode::Letterbox}) {
    const RunOptions o = bright_box_options(dir.file("d.pt"), mode);
    const auto gpu = run(o, "cuda", {clip});
    const auto cpu = run(o, "cpu", {clip});
    ASSERT_EQ(gpu.frames.size(), cpu.frames.size());
    const Agreement a = agreement(cpu, gpu);
    std::printf("[ detect   ] %s: %d / %d CPU detections matched (IoU >= 0.9)\n", to_string(mode).c_str(), a.matched,
                a.total);
    EXPECT_GT(a.total, 40);
    EXPECT_GE(a.matched, static_cast<int>(std::ceil(0.98 * a.total)));
  }
}

// The bundled CenterNet detector on the sample video (real photos): the GPU path (NVDEC, the fused
// kernel's resize, CenterNet decoding on the device) finds what the CPU path finds.
TEST(GpuPipeline, CenterNetDetectionsAgreeWithTheCpuPath) {
  REQUIRE_GPU();
  RunOptions o;
  o.model_path = VIDINFER_DATA_DIR "/models/centernet.pt";
  const Sidecar s = load_model_sidecar(o.model_path);
  o.spec = s.spec;
  o.labels = s.labels;
  o.task = Task::Detect;
  o.score_threshold = 0.3f;
  o.selection.every = 2;  // 160 frames: the CPU path of this model is slow
  // Four threads for the CPU path's model: all the cores, beside a parallel ctest, ran it past the
  // test's timeout on the GPU machine (threads spinning against the other tests' processes).
  o.cpu_threads = 4;
  const auto gpu = run(o, "cuda", {sample()});
  const auto cpu = run(o, "cpu", {sample()});
  RunOptions cpu_decode = o;
  cpu_decode.decoder = DecoderChoice::Cpu;  // libavcodec + swscale as on the CPU path, the model on the GPU
  const auto mixed = run(cpu_decode, "cuda", {sample()});
  ASSERT_EQ(gpu.frames.size(), 160u);
  ASSERT_EQ(cpu.frames.size(), 160u);
  // Where any disagreement comes from: decoding + preprocessing, or the model on the GPU.
  const Agreement model_part = agreement(cpu, mixed), decode_part = agreement(mixed, gpu);
  std::printf("[ centernet] CPU path vs (CPU decode, model on GPU): %d / %d; (CPU decode, model on GPU) vs GPU path: "
              "%d / %d\n", model_part.matched, model_part.total, decode_part.matched, decode_part.total);
  const Agreement a = agreement(cpu, gpu, "centernet");
  std::printf("[ centernet] %d / %d CPU detections matched on the GPU path (same class, IoU >= 0.9)\n", a.matched,
              a.total);
  EXPECT_GT(a.total, 300);
  EXPECT_GE(a.matched, static_cast<int>(std::ceil(0.98 * a.total)));
  EXPECT_EQ(gpu.summary.host_to_device_bytes, 0);
}

// Annotation on the GPU path: frames NVDEC decoded, converted at full size by the kernel and drawn on
// the device give the picture the CPU path gives (libavcodec, swscale, drawing on the host).
TEST(GpuPipeline, AnnotatedPicturesMatchTheCpuPath) {
  REQUIRE_GPU();
  const std::string clip = sample();
  std::vector<Detection> dets(2);
  dets[0].x1 = 100, dets[0].y1 = 60, dets[0].x2 = 300, dets[0].y2 = 200, dets[0].score = 0.9f, dets[0].label = "bicycle";
  dets[1].x1 = 400, dets[1].y1 = 5, dets[1].x2 = 630, dets[1].y2 = 90, dets[1].score = 0.4f, dets[1].class_id = 2;
  dets[1].label = "car";
  auto pictures = [&](bool gpu) {
    Demuxer demux(clip);
    auto dec = gpu ? make_nvdec_decoder(demux.stream(), clip, NvdecOptions{}) : make_cpu_decoder(demux.stream(), clip, 0);
    RgbSource rgb(0, dec->cuda_stream());
    std::vector<torch::Tensor> out;
    auto pkt = make_av_packet();
    auto frame = make_av_frame();
    while (out.size() < 12 && demux.read(pkt.get())) {
      dec->send(pkt.get());
      while (out.size() < 12 && dec->receive(frame.get())) {
        auto img = rgb(frame.get(), 640, 360);
        EXPECT_EQ(img.is_cuda(), gpu);
        draw_detections(img, dets);
        out.push_back(img.to(torch::kCPU));
      }
    }
    return out;
  };
  const auto g = pictures(true), c = pictures(false);
  ASSERT_EQ(g.size(), 12u);
  ASSERT_EQ(c.size(), 12u);
  double worst_mean = 0, worst_max = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const auto d = (g[i].to(torch::kInt) - c[i].to(torch::kInt)).abs().to(torch::kFloat);
    worst_mean = std::max(worst_mean, d.mean().item<double>());
    worst_max = std::max(worst_max, d.max().item<double>());
  }
  if (const char* dump = std::getenv("VIDINFER_TEST_DUMP")) {  // the GPU picture, for a person to look at
    auto p = g[0].contiguous();
    test::write_bytes(std::string(dump) + "/gpu-annotated-640x360.rgb24",
                      std::vector<uint8_t>(p.data_ptr<uint8_t>(), p.data_ptr<uint8_t>() + p.numel()));
  }
  std::printf("[ annotate ] GPU vs CPU annotated pictures: worst mean |diff| %.3f, max %.0f (0..255)\n", worst_mean,
              worst_max);
  EXPECT_LE(worst_mean, 1.0);
  EXPECT_LE(worst_max, 4.0);
}

// NMS on the GPU (postprocess/cuda_nms.cu) keeps exactly what the host NMS keeps, on crowded random
// boxes of several classes (more than one 64-box word, ties in score included).
TEST(GpuPipeline, GpuNmsKeepsWhatTheHostNmsKeeps) {
  REQUIRE_GPU();
  torch::manual_seed(7);
  for (int n : {1, 63, 64, 65, 500, 3000}) {
    auto xy = torch::rand({n, 2}) * 600;
    auto wh = torch::rand({n, 2}) * 120 + 4;
    auto boxes = torch::cat({xy, xy + wh}, 1);
    auto scores = (torch::rand({n}) * 50).round() / 50;  // many ties
    auto classes = torch::randint(0, 3, {n});
    const auto cpu = batched_nms(boxes, scores, classes, 0.5f);
    const auto gpu = batched_nms(boxes.cuda(), scores.cuda(), classes.cuda(), 0.5f);
    ASSERT_TRUE(gpu.is_cuda());
    // Ties may sort differently on the two devices; compare the kept sets.
    auto a = std::get<0>(cpu.sort()), b = std::get<0>(gpu.cpu().sort());
    EXPECT_TRUE(torch::equal(a, b)) << "n=" << n << ": host kept " << a.size(0) << ", GPU kept " << b.size(0);
  }
}

TEST(GpuPipeline, StreamsNvdecCannotTakeFallBackToTheCpuDecoder) {
  const std::string clip = test::clip("h264-444", "mp4", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=1 "
                                      "-c:v libx264 -preset ultrafast -pix_fmt yuv444p");
  REQUIRE_GPU();
  const auto r = run(colour_namer(), "cuda", {clip});
  ASSERT_EQ(r.summary.inputs.size(), 1u);
  EXPECT_EQ(r.summary.inputs[0].status, InputStatus::Ok);
  EXPECT_EQ(r.frames.size(), 30u);
  EXPECT_NE(r.summary.inputs[0].decoder.find("GPU decoder not used: NVDEC on"), std::string::npos)
      << r.summary.inputs[0].decoder;
  EXPECT_GT(r.summary.host_to_device_bytes, 0);
}

// A stream that turns 4:4:4 part-way (two encodes joined, timestamps continued): NVDEC decodes the
// 4:2:0 part and refuses the rest, which goes on on the CPU decoder. The frames, their order and
// timestamps are the CPU path's, in one piece (transport stream) and in segments (Matroska, whose cues
// split it; the later segments are refused from their first picture), beside another input sharing
// the batches. With --decoder gpu the input fails with the reason and keeps the frames before it.
std::string turns_444_ts() {
  const std::string a = test::clip("to444-a", "ts", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 "
                                   "-c:v libx264 -preset fast -bf 2 -g 15 -pix_fmt yuv420p");
  // The second part's timestamps follow the first's: 2 s later, less the B-frame delay the muxer adds.
  const std::string b = test::clip("to444-b", "ts", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=2 "
                                   "-vf hflip -c:v libx264 -preset fast -bf 2 -g 15 -pix_fmt yuv444p "
                                   "-output_ts_offset 2.066667");
  return test::join_files(a, b, test::data_file("turns-444.ts"));
}

TEST(GpuPipeline, StreamThatTurns444PartWayGoesOnOnTheCpuDecoder) {
  const std::string ts = turns_444_ts();
  const std::string mkv = test::data_file("turns-444.mkv");
  if (!std::filesystem::exists(mkv))  // (made here once; the GPU machine has no ffmpeg CLI)
    test::sh("ffmpeg -y -loglevel error -i " + test::q(ts) + " -c copy " + test::q(mkv));
  const std::vector<std::string> inputs = {ts, mkv, sample()};
  REQUIRE_GPU();
  RunOptions o = colour_namer();
  o.streams = 4;
  const auto gpu = run(o, "cuda", inputs);
  const auto cpu = run(colour_namer(), "cpu", inputs);
  ASSERT_EQ(gpu.frames.size(), cpu.frames.size());
  ASSERT_EQ(gpu.frames.size(), 120u + 120u + 320u);
  int same = 0;
  for (size_t i = 0; i < gpu.frames.size(); ++i) {
    ASSERT_EQ(gpu.frames[i].input, cpu.frames[i].input);
    EXPECT_EQ(gpu.frames[i].frame_index, cpu.frames[i].frame_index);
    EXPECT_NEAR(gpu.frames[i].pts, cpu.frames[i].pts, 1e-6) << i;
    same += gpu.frames[i].classes[0].class_id == cpu.frames[i].classes[0].class_id;
  }
  std::printf("[ to-444 ] top-1 agreement %d / %zu\n", same, gpu.frames.size());
  EXPECT_GE(same, static_cast<int>(std::ceil(0.99 * gpu.frames.size())));
  for (size_t k = 0; k < 2; ++k) {
    const InputSummary& in = gpu.summary.inputs[k];
    std::printf("[ to-444 ] %s: %s\n", in.input.c_str(), in.decoder.c_str());
    EXPECT_EQ(in.status, InputStatus::Ok) << in.error;
    EXPECT_EQ(in.decoder.rfind("gpu (NVDEC h264)", 0), 0u) << in.decoder;
    EXPECT_NE(in.decoder.find("then cpu (libavcodec"), std::string::npos) << in.decoder;
    EXPECT_NE(in.decoder.find("4:4:4"), std::string::npos) << in.decoder;
  }
  EXPECT_NE(gpu.summary.inputs[0].decoder.find("for 60 frames, then"), std::string::npos) << gpu.summary.inputs[0].decoder;

  o.decoder = DecoderChoice::Gpu;
  const auto strict = run(o, "cuda", {ts});
  const InputSummary& in = strict.summary.inputs[0];
  EXPECT_EQ(in.status, InputStatus::Failed);
  EXPECT_NE(in.error.find("4:4:4"), std::string::npos) << in.error;
  EXPECT_NE(in.error.find("--decoder gpu"), std::string::npos) << in.error;
  EXPECT_GE(strict.frames.size(), 50u) << "the 4:2:0 part's frames are kept";
  for (size_t i = 0; i < strict.frames.size(); ++i) EXPECT_EQ(strict.frames[i].frame_index, static_cast<int64_t>(i));
}

// Many inputs at once on several NVDEC sessions, and one input in segments, give what one input
// at a time on one session gives: same frames, indices, timestamps and scores.
// Five inputs of several codecs, one long enough to be split (a GOP of 30 frames).
std::vector<std::string> mixed_inputs() {
  const std::string looped = test::clip("sample-looped-gop30", "mp4", "-stream_loop 2 -i " + test::q(sample()) +
                                        " -vf scale=320:-2 -c:v libx264 -preset ultrafast -g 30 -bf 2 -pix_fmt yuv420p");
  return {sample(), hevc_320(), test::media::h264_mp4(), looped, vp9_320()};
}

// The same frames (inputs, indices, pts) and classes (ids, scores within 1e-5), in the same order.
void expect_same_classes(const Runs& got, const Runs& want) {
  ASSERT_EQ(got.frames.size(), want.frames.size());
  for (size_t i = 0; i < want.frames.size(); ++i) {
    const auto &a = got.frames[i], &b = want.frames[i];
    ASSERT_EQ(a.input, b.input) << i;
    ASSERT_EQ(a.frame_index, b.frame_index) << a.input;
    EXPECT_NEAR(a.pts, b.pts, 1e-9) << a.input << " frame " << a.frame_index;
    ASSERT_EQ(a.classes.size(), b.classes.size());
    for (size_t k = 0; k < a.classes.size(); ++k) {
      EXPECT_EQ(a.classes[k].class_id, b.classes[k].class_id) << a.input << " frame " << a.frame_index;
      EXPECT_NEAR(a.classes[k].score, b.classes[k].score, 1e-5) << a.input << " frame " << a.frame_index;
    }
  }
}

TEST(GpuPipeline, ConcurrentInputsAndSegmentsMatchOneAtATime) {
  const std::vector<std::string> inputs = mixed_inputs();
  REQUIRE_GPU();
  RunOptions o = colour_namer();
  o.topk = 3;
  o.streams = 1;
  o.segments = 1;
  const auto one = run(o, "cuda", inputs);
  for (auto [streams, segments] : {std::pair{4, 1}, std::pair{8, 0}, std::pair{3, 5}}) {
    o.streams = streams;
    o.segments = segments;
    const auto many = run(o, "cuda", inputs);
    SCOPED_TRACE("streams " + std::to_string(streams) + ", segments " + std::to_string(segments));
    expect_same_classes(many, one);
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(many.summary.inputs[i].status, InputStatus::Ok) << many.summary.inputs[i].error;
      EXPECT_EQ(many.summary.inputs[i].frames_decoded, one.summary.inputs[i].frames_decoded) << inputs[i];
    }
    if (segments != 1) {
      EXPECT_NE(many.summary.inputs[3].decoder.find("segments decoded at once"), std::string::npos)
          << many.summary.inputs[3].decoder;
    }
    EXPECT_EQ(many.summary.host_to_device_bytes, 0);
  }
}

// --devices cuda:0,cuda:0: two engines (two model replicas, batch pools and sets of NVDEC sessions)
// on one GPU, fed by one job source, give what one engine gives, frame for frame, inputs and
// segments of one input spread over both.
TEST(GpuPipeline, TwoEnginesOnOneGpuMatchOne) {
  const std::vector<std::string> inputs = mixed_inputs();
  REQUIRE_GPU();
  RunOptions o = colour_namer();
  o.topk = 3;
  const auto one = run(o, "cuda", inputs);
  for (const int segments : {1, 0, 6}) {
    SCOPED_TRACE("segments " + std::to_string(segments));
    o.segments = segments;
    o.streams = segments == 6 ? 3 : 0;
    o.devices = {Device::cuda(0), Device::cuda(0)};
    const auto two = run(o, "cuda", inputs);
    o.devices.clear();
    expect_same_classes(two, one);
    int64_t frames = 0;
    ASSERT_EQ(two.summary.devices.size(), 2u);
    for (const auto& d : two.summary.devices) {
      EXPECT_EQ(d.device, "cuda:0");
      frames += d.frames;
    }
    EXPECT_EQ(frames, two.summary.frames);
    EXPECT_EQ(two.summary.device, "cuda:0,cuda:0");
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(two.summary.inputs[i].status, InputStatus::Ok) << two.summary.inputs[i].error;
      EXPECT_EQ(two.summary.inputs[i].device, "cuda:0") << inputs[i];
      EXPECT_EQ(two.summary.inputs[i].frames_decoded, one.summary.inputs[i].frames_decoded) << inputs[i];
    }
    EXPECT_EQ(two.summary.host_to_device_bytes, 0);
  }
}

}  // namespace
}  // namespace vidinfer
