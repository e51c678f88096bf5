// with_fallback: one decoder until it refuses the stream part-way, then another for the rest.
//
// Written by hand: FFmpeg's hwaccel fallback is decided once, when the decoder opens (get_format);
// nothing in FFmpeg or NVCUVID hands a stream over from a hardware session that has already given
// frames. The hand-over keeps the frames exactly as one decoder would give them: the packets are kept
// from the keyframe before the last one (the GOP in progress and the one before it, so that pictures
// the first decoder still held when it refused are decoded again), replayed into the next decoder,
// and its leading frames whose timestamps the first one gave already are dropped.
#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "decode/decoder.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

class FallbackDecoder final : public Decoder {
 public:
  FallbackDecoder(std::unique_ptr<Decoder> first, std::function<std::unique_ptr<Decoder>()> make_next)
      : first_(std::move(first)), make_next_(std::move(make_next)) {}

  void send(const AVPacket* pkt) override {
    if (next_) {
      pending_.push_back(copy(pkt));
      return;
    }
    if (pkt) {
      if (pkt->flags & AV_PKT_FLAG_KEY) {
        prev_gop_ = std::move(cur_gop_);
        cur_gop_.clear();
      }
      cur_gop_.push_back(copy(pkt));
    } else {
      ended_ = true;
    }
    first_->send(pkt);
    if (!first_->refused().empty()) switch_over();
  }

  bool receive(AVFrame* out) override {
    if (!first_drained_) {  // what the first decoder still holds comes first
      if (first_->receive(out)) {
        shown_.push_back(out->best_effort_timestamp);
        if (shown_.size() > kShownKept) shown_.pop_front();
        ++first_frames_;
        return true;
      }
      if (!next_) return false;
      first_drained_ = true;
    }
    while (true) {
      if (next_->receive(out)) {
        // The replay's leading frames that the first decoder gave already are dropped; the first
        // one it did not give ends the dropping (timestamps may start again in a new sequence).
        if (dropping_) {
          const int64_t ts = out->best_effort_timestamp;
          if (ts != AV_NOPTS_VALUE && std::find(shown_.begin(), shown_.end(), ts) != shown_.end()) continue;
          dropping_ = false;
          shown_.clear();
        }
        return true;
      }
      if (pending_.empty()) return false;
      UniqueAVPacket p = std::move(pending_.front());
      pending_.pop_front();
      next_->send(p.get());  // null: the end of the stream
    }
  }

  std::string name() const override {
    if (!next_) return first_->name();
    return first_->name() + " for " + std::to_string(first_frames_) + " frames, then " + next_->name() +
           " (GPU decoder refused the stream part-way: " + reason_ + ")";
  }
  int64_t packets_corrupt() const override {
    return first_->packets_corrupt() + (next_ ? next_->packets_corrupt() : 0);
  }
  std::string refused() const override { return next_ ? next_->refused() : std::string(); }
  uintptr_t cuda_stream() const override { return first_->cuda_stream(); }

 private:
  static UniqueAVPacket copy(const AVPacket* pkt) {
    if (!pkt) return UniqueAVPacket(nullptr);
    UniqueAVPacket p(av_packet_clone(pkt));
    if (!p) throw Error("out of memory keeping packets for the decoder fallback");
    return p;
  }

  void switch_over() {
    reason_ = first_->refused();
    next_ = make_next_();
    for (auto* gop : {&prev_gop_, &cur_gop_})
      for (auto& p : *gop) pending_.push_back(std::move(p));
    prev_gop_.clear();
    cur_gop_.clear();
    if (ended_) pending_.push_back(UniqueAVPacket(nullptr));
  }

  std::unique_ptr<Decoder> first_;
  std::function<std::unique_ptr<Decoder>()> make_next_;
  std::unique_ptr<Decoder> next_;
  std::string reason_;
  std::vector<UniqueAVPacket> prev_gop_, cur_gop_;  // while on the first decoder
  std::deque<UniqueAVPacket> pending_;              // for the next decoder; null ends the stream
  bool ended_ = false;
  bool first_drained_ = false;
  bool dropping_ = true;
  // Timestamps of the first decoder's last frames: more than the two GOPs replayed can show.
  static constexpr size_t kShownKept = 4096;
  std::deque<int64_t> shown_;
  int64_t first_frames_ = 0;
};

}  // namespace

std::unique_ptr<Decoder> with_fallback(std::unique_ptr<Decoder> first,
                                       std::function<std::unique_ptr<Decoder>()> make_next) {
  return std::make_unique<FallbackDecoder>(std::move(first), std::move(make_next));
}

}  // namespace vidinfer
