// NVDEC decoder through NVCUVID directly: FFmpeg demuxes (and converts H.264/HEVC to Annex B), the
// NVCUVID parser finds pictures, the hardware decodes them, and display-order pictures are mapped
// (post-processed to NV12/P016 surfaces) on our stream for the preprocessing kernel to read.
//
// Size: surfaces are the picture's display size, or with a target size (NvdecTargetSize, see
// decoder.h) the size it gives, scaled by the driver's post-processing as pictures are mapped; each
// frame carries its picture's display size in its FrameRef (shown_size()).
//
// Surfaces: a mapped picture is released by av_frame_unref; that records an event on the stream
// (after whatever kernels read it) and the surface is unmapped once the event has passed, so the
// hardware gets it back without a device-wide sync. At most kOutputSurfaces are mapped at once.
//
// This translation unit includes ffnvcodec's loader: no cuda.h, no LibTorch.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "decode/decoder.h"
#include "decode/nvdec_caps.h"
#include "decode/nvdec_driver.h"
#include "decode/nvdec_session_pool.h"
#include "demux/demuxer.h"
#include "vidinfer/error.h"

namespace vidinfer {

const char kDeviceFrameTag[] = "vidinfer-device-frame";

namespace {

constexpr unsigned kOutputSurfaces = 8;
constexpr unsigned kExtraDecodeSurfaces = 4;  // beyond the stream's minimum, so decode runs ahead

using nvdec::SessionKey;
using nvdec::SessionPool;

// One hardware decoder for one sequence (a resolution change starts a new one). Shared by the
// display queue and the mapped frames that still refer to it, so the old one lives until they are
// done; then it is kept for another decoder (SessionPool) unless its stream had errors.
struct Session {
  nvdec::Driver* drv = nullptr;
  CUcontext ctx = nullptr;
  CUvideodecoder dec = nullptr;
  SessionKey key;
  bool reusable = true;       // false once a picture of it failed to decode
  int width = 0, height = 0;  // display size
  int surface_width = 0;      // a mapped surface's size: the display size, or the target size
  int surface_height = 0;     // (rows of the luma plane; chroma follows)
  bool high_depth = false;
  ~Session() {
    if (!dec) return;
    try {
      if (reusable && SessionPool::get().keep(drv, key, dec)) return;
      nvdec::ContextScope scope(ctx);
      drv->cv()->cuvidDestroyDecoder(dec);
    } catch (...) {  // a destructor: the session goes with the process
    }
  }
};

struct Picture {
  std::shared_ptr<Session> session;
  CUVIDPARSERDISPINFO info;
};

// Everything a released frame needs to give its surface back; outlives the decoder object if a
// frame is still held when the decoder is destroyed.
struct State {
  nvdec::Driver* drv = nullptr;
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;
  struct Mapped {
    std::shared_ptr<Session> session;
    CUdeviceptr ptr = 0;
    CUevent event = nullptr;
    bool released = false;
  };
  std::deque<Mapped> mapped;       // in map order
  std::vector<CUevent> free_events;

  // Unmaps released surfaces whose reads are done; with `wait`, waits for the oldest released one.
  void reclaim(bool wait) {
    while (!mapped.empty() && mapped.front().released) {
      Mapped& m = mapped.front();
      if (!wait && drv->cu()->cuEventQuery(m.event) == CUDA_ERROR_NOT_READY) return;
      drv->cu()->cuEventSynchronize(m.event);
      drv->cv()->cuvidUnmapVideoFrame(m.session->dec, m.ptr);
      free_events.push_back(m.event);
      mapped.pop_front();
      wait = false;
    }
  }

  ~State() {
    nvdec::ContextScope scope(ctx);
    for (auto& m : mapped) {
      if (m.event) drv->cu()->cuEventSynchronize(m.event);
      drv->cv()->cuvidUnmapVideoFrame(m.session->dec, m.ptr);
      if (m.event) free_events.push_back(m.event);
    }
    mapped.clear();
    for (CUevent e : free_events) drv->cu()->cuEventDestroy(e);
    if (stream) drv->cu()->cuStreamDestroy(stream);
  }
};

// Holds the state alive for one mapped frame's AVBuffer (C callback data: a heap object is the only
// way to hand a shared_ptr through av_buffer_create's opaque pointer).
struct FrameRef {
  std::shared_ptr<State> state;
  CUdeviceptr ptr;
  int shown_w, shown_h;  // the picture's display size (the surface may be scaled down)
};

void release_frame(void* opaque, uint8_t*) {
  std::unique_ptr<FrameRef> ref(static_cast<FrameRef*>(opaque));
  State& s = *ref->state;
  try {
    nvdec::ContextScope scope(s.ctx);
    for (auto& m : s.mapped) {
      if (m.ptr == ref->ptr && !m.released) {
        s.drv->cu()->cuEventRecord(m.event, s.stream);
        m.released = true;
        break;
      }
    }
  } catch (...) {  // a C callback: never let an exception out; the surface is reclaimed at shutdown
  }
}

class NvdecDecoder final : public Decoder {
 public:
  // prepare_only: the parser's pictures are neither decoded nor shown (prepare_nvdec_sessions).
  NvdecDecoder(const StreamInfo& stream, std::string input, const NvdecOptions& options, bool prepare_only = false)
      : input_(std::move(input)),
        codecpar_(stream.codecpar),
        device_(options.device),
        target_size_(options.target_size),
        trace_(options.trace),
        prepare_only_(prepare_only) {
    std::string why;
    drv_ = nvdec::Driver::get(&why);
    if (!drv_) throw Error("cannot decode on the GPU", input_, why);
    if (!nvdec::to_cuvid_codec(codecpar_->codec_id, codec_))
      throw Error("cannot decode on the GPU", input_,
                  std::string("NVDEC does not decode ") + avcodec_get_name(codecpar_->codec_id));
    fifo_pts_ = codecpar_->codec_id == AV_CODEC_ID_VP9 || codecpar_->codec_id == AV_CODEC_ID_AV1;
    ctx_ = drv_->primary_context(device_);
    nvdec::ContextScope scope(ctx_);
    state_ = std::make_shared<State>();
    state_->drv = drv_;
    state_->ctx = ctx_;
    VI_CU_CHECK(drv_->create_stream(&state_->stream, options.high_priority_stream), input_);
    for (unsigned i = 0; i < kOutputSurfaces; ++i) {
      CUevent e = nullptr;
      VI_CU_CHECK(drv_->cu()->cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), input_);
      state_->free_events.push_back(e);
    }
    if (codecpar_->codec_id == AV_CODEC_ID_H264 || codecpar_->codec_id == AV_CODEC_ID_HEVC) {
      const AVBitStreamFilter* f =
          av_bsf_get_by_name(codecpar_->codec_id == AV_CODEC_ID_H264 ? "h264_mp4toannexb" : "hevc_mp4toannexb");
      if (!f) throw Error("cannot decode on the GPU", input_, "FFmpeg lacks the Annex B bitstream filter");
      AVBSFContext* raw = nullptr;
      VI_AV_CHECK(av_bsf_alloc(f, &raw), input_);
      bsf_.reset(raw);
      VI_AV_CHECK(avcodec_parameters_copy(bsf_->par_in, codecpar_), input_);
      bsf_->time_base_in = stream.time_base;
      VI_AV_CHECK(av_bsf_init(bsf_.get()), input_);
    }
    CUVIDPARSERPARAMS p{};
    p.CodecType = codec_;
    p.ulMaxNumDecodeSurfaces = 1;  // raised by the sequence callback's return value
    p.ulClockRate = 0;
    // Files: lets the parser queue pictures ahead, so decode overlaps mapping; live: none (latency).
    p.ulMaxDisplayDelay = options.low_delay ? 0 : 4;
    p.pUserData = this;
    p.pfnSequenceCallback = &NvdecDecoder::on_sequence;
    p.pfnDecodePicture = &NvdecDecoder::on_decode;
    p.pfnDisplayPicture = &NvdecDecoder::on_display;
    VI_CU_CHECK(drv_->cv()->cuvidCreateVideoParser(&parser_, &p), input_);
    filtered_ = make_av_packet();
  }

  ~NvdecDecoder() override {
    try {
      nvdec::ContextScope scope(ctx_);
      if (parser_) drv_->cv()->cuvidDestroyVideoParser(parser_);
    } catch (...) {
    }
  }

  void send(const AVPacket* pkt) override {
    if (eos_ || !refused_.empty()) return;
    nvdec::ContextScope scope(ctx_);
    if (pkt && (pkt->flags & AV_PKT_FLAG_DISCARD) && pkt->pts != AV_NOPTS_VALUE) discard_pts_.push_back(pkt->pts);
    if (!bsf_) {
      if (pkt && fifo_pts_) packet_pts_.push_back(pkt->pts);
      parse(pkt ? pkt->data : nullptr, pkt ? pkt->size : 0, pkt ? pkt->pts : AV_NOPTS_VALUE, !pkt);
      return;
    }
    int rc = av_bsf_send_packet(bsf_.get(), const_cast<AVPacket*>(pkt));  // a null packet flushes
    if (rc < 0 && rc != AVERROR_EOF) {
      bad();  // the filter rejected the packet (malformed NAL lengths)
      return;
    }
    while ((rc = av_bsf_receive_packet(bsf_.get(), filtered_.get())) == 0) {
      parse(filtered_->data, filtered_->size, filtered_->pts, false);
      av_packet_unref(filtered_.get());
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) bad();
    if (!pkt) parse(nullptr, 0, AV_NOPTS_VALUE, true);
  }

  bool receive(AVFrame* out) override {
    av_frame_unref(out);
    nvdec::ContextScope scope(ctx_);
    while (!queue_.empty()) {
      Picture pic = std::move(queue_.front());
      queue_.pop_front();
      int64_t pts = has_pts_ ? pic.info.timestamp : AV_NOPTS_VALUE;
      if (fifo_pts_) {  // one shown frame per packet, in packet order (see fifo_pts_)
        pts = packet_pts_.empty() ? AV_NOPTS_VALUE : packet_pts_.front();
        if (!packet_pts_.empty()) packet_pts_.pop_front();
      }
      if (pts != AV_NOPTS_VALUE && !discard_pts_.empty()) {  // a pre-roll picture (see discard_pts_)
        if (const auto it = std::find(discard_pts_.begin(), discard_pts_.end(), pts); it != discard_pts_.end()) {
          discard_pts_.erase(it);
          continue;
        }
      }
      state_->reclaim(false);
      while (state_->mapped.size() >= kOutputSurfaces) {
        if (!state_->mapped.front().released)
          throw Error("NVDEC surfaces exhausted", input_, "more than " + std::to_string(kOutputSurfaces) +
                                                              " decoded frames held at once");
        state_->reclaim(true);
      }
      CUVIDPROCPARAMS pp{};
      pp.progressive_frame = pic.info.progressive_frame;
      pp.top_field_first = pic.info.top_field_first;
      pp.second_field = pic.info.repeat_first_field + 1;
      pp.unpaired_field = pic.info.repeat_first_field < 0;
      pp.output_stream = state_->stream;
      CUdeviceptr ptr = 0;
      unsigned pitch = 0;
      VI_CU_CHECK(drv_->cv()->cuvidMapVideoFrame(pic.session->dec, pic.info.picture_index,
                                                   reinterpret_cast<unsigned long long*>(&ptr), &pitch, &pp),
                  input_);
      CUVIDGETDECODESTATUS status{};
      const CUresult st = drv_->cv()->cuvidGetDecodeStatus(pic.session->dec, pic.info.picture_index, &status);
      if (st == CUDA_SUCCESS && status.decodeStatus == cuvidDecodeStatus_Error) {
        drv_->cv()->cuvidUnmapVideoFrame(pic.session->dec, ptr);
        pic.session->reusable = false;
        bad();
        continue;
      }
      State::Mapped m;
      m.session = pic.session;
      m.ptr = ptr;
      m.event = state_->free_events.back();
      state_->free_events.pop_back();
      state_->mapped.push_back(m);

      auto ref = std::make_unique<FrameRef>(FrameRef{state_, ptr, pic.session->width, pic.session->height});
      out->buf[0] = av_buffer_create(reinterpret_cast<uint8_t*>(ptr), 0, &release_frame, ref.get(), 0);
      if (!out->buf[0]) throw Error("out of memory", input_);
      (void)ref.release();  // owned by the buffer now
      out->opaque = const_cast<char*>(kDeviceFrameTag);
      out->format = pic.session->high_depth ? AV_PIX_FMT_P016LE : AV_PIX_FMT_NV12;
      out->width = pic.session->surface_width;
      out->height = pic.session->surface_height;
      out->data[0] = reinterpret_cast<uint8_t*>(ptr);
      out->data[1] = reinterpret_cast<uint8_t*>(ptr + static_cast<CUdeviceptr>(pitch) * pic.session->surface_height);
      out->linesize[0] = out->linesize[1] = static_cast<int>(pitch);
      out->pts = out->best_effort_timestamp = pts;
      out->colorspace = colorspace_;
      out->color_range = color_range_;
      return true;
    }
    return false;
  }

  std::string name() const override { return "gpu (NVDEC " + std::string(avcodec_get_name(codecpar_->codec_id)) + ")"; }
  int64_t packets_corrupt() const override { return corrupt_; }
  std::string refused() const override { return refused_; }
  uintptr_t cuda_stream() const override { return reinterpret_cast<uintptr_t>(state_->stream); }
  // Whether a sequence has been seen and its session made (prepare_nvdec_sessions).
  bool has_session() const { return session_ != nullptr; }
  bool session_created() const { return session_created_; }

 private:
  // A corrupt packet or picture: counted, and the current session is not kept for another stream
  // (whatever state the error left it in stays with this one).
  void bad() {
    ++corrupt_;
    if (session_) session_->reusable = false;
  }

  void parse(const uint8_t* data, int size, int64_t pts, bool end) {
    if (!refused_.empty()) return;
    CUVIDSOURCEDATAPACKET p{};
    p.payload = data;
    p.payload_size = static_cast<unsigned long>(size);
    if (pts != AV_NOPTS_VALUE) {
      p.flags |= CUVID_PKT_TIMESTAMP;
      p.timestamp = pts;
      has_pts_ = true;
    }
    if (end) {
      p.flags |= CUVID_PKT_ENDOFSTREAM;
      eos_ = true;
    }
    const CUresult rc = drv_->cv()->cuvidParseVideoData(parser_, &p);
    if (!refused_.empty()) return;  // the parser's failure is the refusal, not corrupt data
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if (rc != CUDA_SUCCESS) bad();
  }

  // Parser callbacks: static trampolines that never let an exception cross into the driver.
  static int CUDAAPI on_sequence(void* self, CUVIDEOFORMAT* fmt) {
    auto* d = static_cast<NvdecDecoder*>(self);
    try {
      return d->sequence(*fmt);
    } catch (...) {
      d->error_ = std::current_exception();
      return 0;
    }
  }
  static int CUDAAPI on_decode(void* self, CUVIDPICPARAMS* pic) {
    auto* d = static_cast<NvdecDecoder*>(self);
    if (d->prepare_only_) return 1;
    if (!d->session_ || d->drv_->cv()->cuvidDecodePicture(d->session_->dec, pic) != CUDA_SUCCESS) d->bad();
    return 1;
  }
  static int CUDAAPI on_display(void* self, CUVIDPARSERDISPINFO* info) {
    auto* d = static_cast<NvdecDecoder*>(self);
    if (info && d->session_ && !d->prepare_only_) d->queue_.push_back(Picture{d->session_, *info});
    return 1;
  }

  int sequence(const CUVIDEOFORMAT& f) {
    const int width = f.display_area.right - f.display_area.left;
    const int height = f.display_area.bottom - f.display_area.top;
    const unsigned surfaces = f.min_num_decode_surfaces + kExtraDecodeSurfaces;
    // A sequence this decoder cannot take (the stream changed part-way, or the container's parameters
    // did not tell): refuse it and stop, with the reason; frames already given stay valid and the
    // caller may go on with another decoder (see with_fallback).
    const auto refuse = [&](const std::string& why) {
      refused_ = why + " (" + std::to_string(width) + "x" + std::to_string(height) + ")";
      return 0;
    };
    if (f.chroma_format != cudaVideoChromaFormat_420)
      return refuse(std::string("only 4:2:0 streams are decoded by NVDEC here, this sequence is ") +
                    (f.chroma_format == cudaVideoChromaFormat_444   ? "4:4:4"
                     : f.chroma_format == cudaVideoChromaFormat_422 ? "4:2:2"
                                                                    : "monochrome"));
    const int depth = 8 + f.bit_depth_luma_minus8;
    const AVPixelFormat fmt = depth > 10 ? AV_PIX_FMT_YUV420P12 : depth > 8 ? AV_PIX_FMT_YUV420P10 : AV_PIX_FMT_YUV420P;
    const auto t_caps = std::chrono::steady_clock::now();
    if (const GpuDecodeSupport s = nvdec_supports(codecpar_->codec_id, fmt, static_cast<int>(f.coded_width),
                                                  static_cast<int>(f.coded_height), device_);
        !s.supported)
      return refuse(s.reason);
    if (session_ && session_->width == width && session_->height == height &&
        session_->high_depth == (f.bit_depth_luma_minus8 > 0) && coded_w_ == f.coded_width &&
        coded_h_ == f.coded_height)
      return static_cast<int>(surfaces);
    CUVIDDECODECREATEINFO ci{};
    ci.CodecType = f.codec;
    ci.ChromaFormat = f.chroma_format;
    ci.OutputFormat = f.bit_depth_luma_minus8 ? cudaVideoSurfaceFormat_P016 : cudaVideoSurfaceFormat_NV12;
    ci.bitDepthMinus8 = f.bit_depth_luma_minus8;
    // Weave, for interlaced sequences too: the two fields of a frame woven into one picture, as
    // libavcodec gives them on the CPU path, so that both paths feed the model the same pixels (with
    // Adaptive, NVDEC's deinterlacer made the GPU path's values differ from the CPU path's ~30x more
    // than on progressive streams). With Weave the driver ignores CUVIDPROCPARAMS::second_field.
    ci.DeinterlaceMode = cudaVideoDeinterlaceMode_Weave;
    ci.ulNumOutputSurfaces = kOutputSurfaces;
    ci.ulCreationFlags = cudaVideoCreate_PreferCUVID;
    ci.ulNumDecodeSurfaces = surfaces;
    ci.ulWidth = f.coded_width;
    ci.ulHeight = f.coded_height;
    ci.ulMaxWidth = f.coded_width;
    ci.ulMaxHeight = f.coded_height;
    ci.display_area.left = static_cast<short>(f.display_area.left);
    ci.display_area.top = static_cast<short>(f.display_area.top);
    ci.display_area.right = static_cast<short>(f.display_area.right);
    ci.display_area.bottom = static_cast<short>(f.display_area.bottom);
    const auto [target_w, target_h] = target_size(width, height);
    const auto t_create = std::chrono::steady_clock::now();
    ci.ulTargetWidth = static_cast<unsigned>(target_w);
    ci.ulTargetHeight = static_cast<unsigned>(target_h);
    auto s = std::make_shared<Session>();
    s->drv = drv_;
    s->ctx = ctx_;
    s->width = width;
    s->height = height;
    s->surface_width = target_w;
    s->surface_height = target_h;
    s->high_depth = f.bit_depth_luma_minus8 > 0;
    // A scaled size the driver refuses (the SDK states no limits for it) decodes at full size instead:
    // the kernel then resizes, as without a target size.
    SessionPool& pool = SessionPool::get();
    bool reused = false;
    if ((target_w != width || target_h != height) && pool.make(drv_, ctx_, ci, &s->dec, &reused) != CUDA_SUCCESS) {
      s->dec = nullptr;
      ci.ulTargetWidth = static_cast<unsigned>(width);
      ci.ulTargetHeight = static_cast<unsigned>(height);
      s->surface_width = width;
      s->surface_height = height;
    }
    if (!s->dec)
      if (const CUresult rc = pool.make(drv_, ctx_, ci, &s->dec, &reused); rc != CUDA_SUCCESS)
        return refuse("cuvidCreateDecoder failed: " + nvdec::error_text(rc));
    s->key = SessionKey::of(ctx_, ci);
    if (trace_) {
      const auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
      std::fprintf(stderr, "vidinfer trace: %s: NVDEC session %dx%d: caps %.1f ms, %s %.1f ms\n", input_.c_str(), width,
                   height, ms(t_caps, t_create), reused ? "kept session taken" : "cuvidCreateDecoder",
                   ms(t_create, std::chrono::steady_clock::now()));
    }
    session_ = std::move(s);
    session_created_ = !reused;
    coded_w_ = f.coded_width;
    coded_h_ = f.coded_height;
    // The bitstream's colour description wins over the container's, as in libavcodec.
    const auto& vs = f.video_signal_description;
    // (The bitstream's byte may be any value: one beyond AVColorSpace's range counts as unspecified.)
    colorspace_ = vs.matrix_coefficients != AVCOL_SPC_UNSPECIFIED && vs.matrix_coefficients != AVCOL_SPC_RESERVED &&
                          vs.matrix_coefficients < AVCOL_SPC_NB
                      ? static_cast<AVColorSpace>(vs.matrix_coefficients)
                      : read_color_space(codecpar_->color_space);
    color_range_ = vs.video_full_range_flag ? AVCOL_RANGE_JPEG
                   : read_color_range(codecpar_->color_range) == AVCOL_RANGE_JPEG &&
                           vs.matrix_coefficients == AVCOL_SPC_UNSPECIFIED
                       ? AVCOL_RANGE_JPEG
                       : AVCOL_RANGE_MPEG;
    return static_cast<int>(surfaces);
  }

  // The size to decode a w x h picture to: target_size_'s when NVDEC can make it (even, not larger),
  // else the picture's own.
  std::pair<int, int> target_size(int w, int h) const {
    if (!target_size_) return {w, h};
    const auto [tw, th] = target_size_(w, h);
    if (tw <= 0 || th <= 0 || tw > w || th > h || tw % 2 || th % 2) return {w, h};
    return {tw, th};
  }

  std::string input_;
  const AVCodecParameters* codecpar_;
  int device_ = 0;
  NvdecTargetSize target_size_;
  bool trace_ = false;
  nvdec::Driver* drv_ = nullptr;
  CUcontext ctx_ = nullptr;
  cudaVideoCodec codec_{};
  std::shared_ptr<State> state_;
  UniqueAVBSFContext bsf_;
  UniqueAVPacket filtered_;
  CUvideoparser parser_ = nullptr;
  std::shared_ptr<Session> session_;
  std::deque<Picture> queue_;
  unsigned coded_w_ = 0, coded_h_ = 0;
  AVColorSpace colorspace_ = AVCOL_SPC_UNSPECIFIED;
  AVColorRange color_range_ = AVCOL_RANGE_UNSPECIFIED;
  int64_t corrupt_ = 0;
  bool eos_ = false;
  bool has_pts_ = false;
  // VP9 and AV1 never reorder and show exactly one frame per packet (superframe / temporal unit), but
  // the parser's timestamps go astray around hidden frames shown later: take the packets' own, in order.
  bool fifo_pts_ = false;
  std::deque<int64_t> packet_pts_;
  // Timestamps of packets the demuxer marks AV_PKT_FLAG_DISCARD: an MP4 edit list that starts after
  // a keyframe (a stream-copied trim, `ffmpeg -ss 1.3 -c copy`) keeps the pictures from that keyframe
  // on as pre-roll, to be decoded but not shown. libavcodec drops the frames decoded from them; the
  // picture NVDEC shows for such a packet carries its timestamp and is dropped here, so both paths
  // give the same frames, indices and counts. As many as the edit list's pre-roll, each removed
  // when its picture comes out.
  std::vector<int64_t> discard_pts_;
  std::exception_ptr error_;
  std::string refused_;  // why the stream's current sequence cannot be decoded here
  bool prepare_only_ = false;
  bool session_created_ = false;  // the session was made for this decoder, not taken from the kept ones
};

}  // namespace

std::pair<int, int> shown_size(const AVFrame* f) {
  // A device frame's buffer is always the one receive() made, with its FrameRef as the opaque.
  if (is_device_frame(f) && f->buf[0])
    if (const auto* ref = static_cast<const FrameRef*>(av_buffer_get_opaque(f->buf[0]))) return {ref->shown_w, ref->shown_h};
  return {f->width, f->height};
}


std::vector<std::unique_ptr<Decoder>> prepare_nvdec_sessions(const StreamInfo& stream, const std::string& input,
                                                             const NvdecOptions& options,
                                                             const std::function<bool(AVPacket*)>& read, int count,
                                                             int* created) {
  // Parameter sets come with the first keyframe (the Annex B filter puts the container's in front of
  // it); a stream whose first packets hold no sequence NVDEC takes is left to its decoders.
  constexpr size_t kMaxPackets = 64;
  std::vector<UniqueAVPacket> packets;  // the stream's first packets, given to each decoder in turn
  bool ended = false;
  std::vector<std::unique_ptr<Decoder>> made;
  UniqueAVPacket sent = make_av_packet();  // a new reference each time: sending consumes the packet
  *created = 0;
  for (int k = 0; k < count; ++k) {
    auto d = std::make_unique<NvdecDecoder>(stream, input, options, /*prepare_only=*/true);
    for (size_t i = 0; !d->has_session() && d->refused().empty();) {
      if (i == packets.size() && !ended && packets.size() < kMaxPackets) {
        UniqueAVPacket p = make_av_packet();
        if (read(p.get())) packets.push_back(std::move(p));
        else ended = true;
      }
      if (i < packets.size()) {
        VI_AV_CHECK(av_packet_ref(sent.get(), packets[i++].get()), input);
        d->send(sent.get());
        av_packet_unref(sent.get());
      } else {  // no more packets to look at: the end of the stream makes the parser finish what it has
        d->send(nullptr);
        break;
      }
    }
    if (!d->has_session()) break;
    if (d->session_created()) ++*created;
    made.push_back(std::move(d));
  }
  return made;
}

std::unique_ptr<Decoder> make_nvdec_decoder(const StreamInfo& stream, const std::string& input,
                                            const NvdecOptions& options) {
  return std::make_unique<NvdecDecoder>(stream, input, options);
}

}  // namespace vidinfer
