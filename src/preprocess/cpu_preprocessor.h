// The CPU preprocessor, and the reference the GPU kernel is checked against: colour conversion with
// the stream's own matrix and range (swscale, accurate rounding, full chroma interpolation), bilinear
// resize, pad or crop, normalisation, written as CHW float32 in the model's channel order.
// One instance per thread (it caches a swscale context and buffers).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/av.h"
#include "preprocess/geometry.h"
#include "vidinfer/options.h"

namespace vidinfer {

struct ColourSpec {
  int sws_matrix = SWS_CS_ITU709;  // SWS_CS_* coefficients
  bool full_range = false;
  std::string matrix_name;  // "bt709", "bt601", "bt2020", ... ("(assumed)" appended when untagged)
};

// The matrix and range a frame is converted with. Untagged streams follow what players do: BT.709 for
// HD (height >= 720), BT.601 below; limited range unless tagged full (or a yuvj format).
ColourSpec resolve_colour(AVColorSpace space, AVColorRange range, AVPixelFormat fmt, int height);

class CpuPreprocessor {
 public:
  explicit CpuPreprocessor(const ModelSpec& spec);

  // Writes one frame into dst, a [3, spec.height, spec.width] float32 CHW buffer, turned clockwise
  // by `rotation` (0, 90, 180, 270) first. Returns the geometry used (for mapping boxes back).
  // Throws vidinfer::Error on unsupported formats.
  Geometry run(const AVFrame* frame, float* dst, int rotation = 0);

 private:
  ModelSpec spec_;
  UniqueSwsContext sws_;
  std::array<int, 5> sws_colour_{-1, -1, -1, -1, -1};  // matrix, range, src fmt, width, height
  std::vector<uint8_t> rgb_;
  std::array<std::array<float, 256>, 3> lut_{};  // (v / 255 - mean) / std per channel
};

// The frame as packed RGB24 at out_w x out_h, converted exactly as the preprocessor converts
// (stream matrix and range, bilinear, accurate rounding). The reference for colour tests.
std::vector<uint8_t> frame_to_rgb24(const AVFrame* frame, int out_w, int out_h);

}  // namespace vidinfer
