// The decode ceiling, measured beside vidinfer on the same machine and files (a benchmark, not a
// test): a bare NVCUVID loop in one process, T threads each doing libavformat demux, the Annex B
// filter, parse, decode, map and unmap, nothing else — the loop the throughput issue's figures come
// from. Written by hand because it is the reference the product is measured against; it shares only
// the demuxer and the driver loader with vidinfer, not its decoder.
//
//   vidinfer-nvdec-bare [--threads 1,7,8,14] [--device N] [--create-flags cuvid|default|cuda]
//                       [--output-surfaces N] [--serial-create] FILE...
//
// Thread t decodes FILE[t % count] whole. Prints, per thread count: frames, seconds (from the
// threads' start to the last one's end; driver and context set up before), fps, the median time
// to a thread's first mapped frame, and the median times of cuvidCreateDecoder and
// cuvidDestroyDecoder (sessions' fixed cost, with the creation flags and output surfaces given).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/av.h"
#include "decode/nvdec_driver.h"
#include "demux/demuxer.h"
#include "vidinfer/error.h"

using namespace vidinfer;
using Clock = std::chrono::steady_clock;

namespace {

struct Loop {
  nvdec::Driver* drv = nullptr;
  std::string path;
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;
  CUvideodecoder dec = nullptr;
  CUvideoparser parser = nullptr;
  int64_t frames = 0;
  double first_frame = -1;
  double create_ms = 0, destroy_ms = 0;
  unsigned create_flags = cudaVideoCreate_PreferCUVID;
  unsigned output_surfaces = 2;
  std::mutex* create_mu = nullptr;  // --serial-create: one creation at a time
  Clock::time_point t0;
  std::string error;

  static int CUDAAPI on_sequence(void* self, CUVIDEOFORMAT* f) {
    auto* l = static_cast<Loop*>(self);
    const unsigned surfaces = f->min_num_decode_surfaces + 4;
    if (l->dec) return static_cast<int>(surfaces);
    CUVIDDECODECREATEINFO ci{};
    ci.CodecType = f->codec;
    ci.ChromaFormat = f->chroma_format;
    ci.OutputFormat = f->bit_depth_luma_minus8 ? cudaVideoSurfaceFormat_P016 : cudaVideoSurfaceFormat_NV12;
    ci.bitDepthMinus8 = f->bit_depth_luma_minus8;
    ci.DeinterlaceMode = cudaVideoDeinterlaceMode_Weave;
    ci.ulNumOutputSurfaces = l->output_surfaces;
    ci.ulCreationFlags = l->create_flags;
    ci.ulNumDecodeSurfaces = surfaces;
    ci.ulWidth = ci.ulMaxWidth = f->coded_width;
    ci.ulHeight = ci.ulMaxHeight = f->coded_height;
    ci.display_area.left = static_cast<short>(f->display_area.left);
    ci.display_area.top = static_cast<short>(f->display_area.top);
    ci.display_area.right = static_cast<short>(f->display_area.right);
    ci.display_area.bottom = static_cast<short>(f->display_area.bottom);
    ci.ulTargetWidth = static_cast<unsigned>(f->display_area.right - f->display_area.left);
    ci.ulTargetHeight = static_cast<unsigned>(f->display_area.bottom - f->display_area.top);
    const auto t = Clock::now();
    std::unique_lock<std::mutex> lock;
    if (l->create_mu) lock = std::unique_lock(*l->create_mu);
    if (l->drv->cv()->cuvidCreateDecoder(&l->dec, &ci) != CUDA_SUCCESS) {
      l->error = "cuvidCreateDecoder failed";
      return 0;
    }
    l->create_ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    return static_cast<int>(surfaces);
  }
  static int CUDAAPI on_decode(void* self, CUVIDPICPARAMS* p) {
    auto* l = static_cast<Loop*>(self);
    return l->drv->cv()->cuvidDecodePicture(l->dec, p) == CUDA_SUCCESS;
  }
  static int CUDAAPI on_display(void* self, CUVIDPARSERDISPINFO* info) {
    auto* l = static_cast<Loop*>(self);
    if (!info) return 1;
    CUVIDPROCPARAMS pp{};
    pp.progressive_frame = info->progressive_frame;
    pp.top_field_first = info->top_field_first;
    pp.second_field = info->repeat_first_field + 1;
    pp.unpaired_field = info->repeat_first_field < 0;
    pp.output_stream = l->stream;
    unsigned long long ptr = 0;
    unsigned pitch = 0;
    if (l->drv->cv()->cuvidMapVideoFrame(l->dec, info->picture_index, &ptr, &pitch, &pp) != CUDA_SUCCESS) {
      l->error = "cuvidMapVideoFrame failed";
      return 0;
    }
    l->drv->cv()->cuvidUnmapVideoFrame(l->dec, ptr);
    if (l->first_frame < 0) l->first_frame = std::chrono::duration<double>(Clock::now() - l->t0).count();
    ++l->frames;
    return 1;
  }

  void run() {
    try {
      nvdec::ContextScope scope(ctx);
      drv->cu()->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING);
      Demuxer demux(path);
      const AVCodecParameters* par = demux.stream().codecpar;
      cudaVideoCodec codec;
      if (!nvdec::to_cuvid_codec(par->codec_id, codec)) throw Error("not an NVDEC codec", path);
      UniqueAVBSFContext bsf;
      if (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC) {  // to Annex B (a no-op on it)
        AVBSFContext* b = nullptr;
        VI_AV_CHECK(av_bsf_alloc(av_bsf_get_by_name(par->codec_id == AV_CODEC_ID_H264 ? "h264_mp4toannexb"
                                                                                      : "hevc_mp4toannexb"),
                                 &b),
                    path);
        bsf.reset(b);
        VI_AV_CHECK(avcodec_parameters_copy(bsf->par_in, par), path);
        bsf->time_base_in = demux.stream().time_base;
        VI_AV_CHECK(av_bsf_init(bsf.get()), path);
      }
      CUVIDPARSERPARAMS pp{};
      pp.CodecType = codec;
      pp.ulMaxNumDecodeSurfaces = 1;
      pp.ulMaxDisplayDelay = 4;
      pp.pUserData = this;
      pp.pfnSequenceCallback = on_sequence;
      pp.pfnDecodePicture = on_decode;
      pp.pfnDisplayPicture = on_display;
      if (drv->cv()->cuvidCreateVideoParser(&parser, &pp) != CUDA_SUCCESS) throw Error("cuvidCreateVideoParser failed", path);
      UniqueAVPacket pkt = make_av_packet(), out = make_av_packet();
      auto parse = [&](const AVPacket* p, bool eos) {
        CUVIDSOURCEDATAPACKET sp{};
        if (p) {
          sp.payload = p->data;
          sp.payload_size = static_cast<unsigned long>(p->size);
        }
        if (eos) sp.flags = CUVID_PKT_ENDOFSTREAM;
        drv->cv()->cuvidParseVideoData(parser, &sp);
      };
      while (demux.read(pkt.get()) && error.empty()) {
        if (bsf) {
          if (av_bsf_send_packet(bsf.get(), pkt.get()) == 0)
            while (av_bsf_receive_packet(bsf.get(), out.get()) == 0) {
              parse(out.get(), false);
              av_packet_unref(out.get());
            }
        } else {
          parse(pkt.get(), false);
        }
        av_packet_unref(pkt.get());
      }
      parse(nullptr, true);
      drv->cv()->cuvidDestroyVideoParser(parser);
      const auto t = Clock::now();
      if (dec) drv->cv()->cuvidDestroyDecoder(dec);
      destroy_ms = std::chrono::duration<double, std::milli>(Clock::now() - t).count();
      drv->cu()->cuStreamDestroy(stream);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
};

std::vector<int> parse_ints(const std::string& s) {
  std::vector<int> v;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');) v.push_back(std::atoi(x.c_str()));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  av_log_set_level(AV_LOG_QUIET);
  std::vector<int> threads{1, 7, 8, 14};
  int device = 0;
  unsigned create_flags = cudaVideoCreate_PreferCUVID, output_surfaces = 2;
  bool serial_create = false;
  std::mutex create_mu;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = parse_ints(argv[++i]);
    else if (a == "--device" && i + 1 < argc) device = std::atoi(argv[++i]);
    else if (a == "--serial-create") serial_create = true;
    else if (a == "--output-surfaces" && i + 1 < argc) output_surfaces = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (a == "--create-flags" && i + 1 < argc) {
      const std::string f = argv[++i];
      create_flags = f == "default" ? cudaVideoCreate_Default : f == "cuda" ? cudaVideoCreate_PreferCUDA : cudaVideoCreate_PreferCUVID;
    } else files.push_back(a);
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: vidinfer-nvdec-bare [--threads 1,7,8,14] [--device N] FILE...\n");
    return 2;
  }
  std::string why;
  nvdec::Driver* drv = nvdec::Driver::get(&why);
  if (!drv) {
    std::fprintf(stderr, "vidinfer-nvdec-bare: no NVDEC: %s\n", why.c_str());
    return 1;
  }
  CUcontext ctx = drv->primary_context(device);
  std::printf("bare NVCUVID loop on %s; %zu file(s)\n", drv->device_name(device).c_str(), files.size());
  std::printf("%8s %8s %8s %9s %12s %10s %10s\n", "threads", "frames", "seconds", "fps", "first frame", "create", "destroy");
  int rc = 0;
  for (int t : threads) {
    std::vector<Loop> loops(static_cast<size_t>(std::max(t, 1)));
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (size_t k = 0; k < loops.size(); ++k) {
      loops[k].drv = drv;
      loops[k].ctx = ctx;
      loops[k].path = files[k % files.size()];
      loops[k].t0 = t0;
      loops[k].create_flags = create_flags;
      loops[k].output_surfaces = output_surfaces;
      loops[k].create_mu = serial_create ? &create_mu : nullptr;
      pool.emplace_back([&loops, k] { loops[k].run(); });
    }
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    int64_t frames = 0;
    std::vector<double> firsts, creates, destroys;
    for (const auto& l : loops) {
      frames += l.frames;
      firsts.push_back(l.first_frame);
      creates.push_back(l.create_ms);
      destroys.push_back(l.destroy_ms);
      if (!l.error.empty()) {
        std::fprintf(stderr, "vidinfer-nvdec-bare: %s: %s\n", l.path.c_str(), l.error.c_str());
        rc = 1;
      }
    }
    const auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    std::printf("%8d %8lld %8.2f %9.1f %9.0f ms %7.1f ms %7.1f ms\n", t, static_cast<long long>(frames), s, frames / s,
                median(firsts) * 1e3, median(creates), median(destroys));
    std::fflush(stdout);
  }
  return rc;
}
