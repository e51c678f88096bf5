// Annotated output: boxes and labels drawn on RGB pictures, encoded as video or PNG stills.
//
// Drawing works on a torch tensor [H, W, 3] uint8 wherever it lives: on the GPU path the picture
// is converted and drawn on the device, and only the finished picture is copied to the host for the
// encoder (there is no NVENC on the GPUs we target; libx264 runs on the CPU).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/av.h"
#include "vidinfer/results.h"

namespace vidinfer {

// Draws each detection's box (outline in its class colour) and a label "<label> <score>" on `img`,
// [H, W, 3] uint8 RGB, on any device. Boxes are in img's pixels; parts outside are clipped.
void draw_detections(torch::Tensor& img, const std::vector<Detection>& dets);

// Writes RGB pictures as a video file: H.264 (libx264, else FFmpeg's default H.264 encoder, else
// MPEG-4 part 2) in the container the file name asks for, timestamps in `time_base` as given (the
// input's own, so frame rate and timing are kept). The file appears only when finish() succeeds
// (written as PATH.part, then renamed). Not thread-safe.
class VideoWriter {
 public:
  VideoWriter(const std::string& path, int width, int height, AVRational time_base, AVRational frame_rate);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // rgb: packed RGB24 rows of `stride` bytes, width x height as constructed.
  void write(const uint8_t* rgb, int stride, int64_t pts);
  void finish();
  const std::string& encoder() const { return encoder_; }

 private:
  void drain(bool flush);

  std::string path_, part_, encoder_;
  int width_, height_;
  UniqueAVOutputContext out_;
  UniqueAVCodecContext enc_;
  UniqueSwsContext sws_;
  UniqueAVFrame frame_;
  UniqueAVPacket pkt_;
  AVStream* stream_ = nullptr;
  int64_t last_pts_ = AV_NOPTS_VALUE;
  bool finished_ = false;
};

// Writes one RGB picture as a PNG file (atomically: PATH.part, then renamed).
void write_png(const std::string& path, const uint8_t* rgb, int width, int height, int stride);

}  // namespace vidinfer
