// Stream facts of one input, as `vidinfer probe` prints them.
#pragma once

#include <cstdint>
#include <string>

namespace vidinfer {

struct ProbeInfo {
  std::string input;
  std::string container;      // libavformat's short name(s), e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  int stream_index = -1;      // the video stream chosen
  std::string codec;          // "h264"
  std::string profile;        // "High", may be empty
  int width = 0, height = 0;
  std::string pixel_format;   // "yuv420p10le"
  int bit_depth = 0;
  double frame_rate = 0;      // average frame rate (0 if unknown)
  double duration = 0;        // seconds (0 if unknown)
  int64_t frame_count = 0;    // from the container, else counted from packets; 0 for a live stream
  bool frame_count_exact = false;  // counted (true) or the container's word (false)
  // A live stream (a camera's, an encoder's: a URL or pipe whose container states no length, as
  // `run` tells them): it may never end, so its frames are not counted.
  bool live = false;
  std::string color_matrix, color_range, color_primaries, color_transfer;
  double rotation = 0;        // degrees, counter-clockwise, from the display matrix
  bool gpu_decode = false;    // this machine's NVDEC can decode it
  std::string gpu_reason;     // why not (or what supports it)
};

// Throws vidinfer::Error naming the input when it cannot be opened or has no video stream.
ProbeInfo probe(const std::string& path);

}  // namespace vidinfer
