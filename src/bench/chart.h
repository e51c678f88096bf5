// Bar charts for `vidinfer bench` (frames per second of several pipeline modes for several input
// lengths), drawn into an RGB picture with the 5x7 bitmap font and written as PNG.
//
// The PNG encoder is written by hand: the GPU machine's FFmpeg kit has decoders only (no PNG
// encoder, so output/annotate.h's write_png cannot run there), and neither zlib's nor libpng's
// headers are guaranteed on it. A PNG whose deflate stream uses "stored" (uncompressed) blocks needs
// only CRC-32, Adler-32 and the block framing, about 60 lines. A chart is a few MB uncompressed at
// most, written once per bench run, so not compressing costs nothing that matters.
//
// All functions here are pure (no shared state) and safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vidinfer {

// What to plot: one cluster of bars per group, one bar per series in each, one colour per series.
struct BarChart {
  std::string title;                        // drawn at the top
  std::string y_label;                      // e.g. "frames per second"
  std::vector<std::string> groups;          // x-axis groups, e.g. "960 frames"
  std::vector<std::string> series;          // legend entries, e.g. "baseline", "vidinfer"
  std::vector<std::vector<double>> values;  // values[group][series]; 0 .. 1e15; NaN = missing (no bar)
};

// A packed RGB24 picture: width * height * 3 bytes, row-major, no padding.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Draws the chart on white: title, legend (swatch + name), y axis with round ticks (1/2/5 x 10^k)
// and gridlines, bars with their value above them (rounded to an integer, or to the ticks' decimals
// when the ticks have some, i.e. values under ~10), group names below. Bar heights are proportional
// to the values (0 at the x axis); NaN leaves a gap in its group.
// Text that does not fit is drawn smaller, then cut short with "..". Throws vidinfer::Error (one
// line) when values does not match groups x series, a value is negative, infinite or above 1e15, or
// the picture is too small (under 320x200, over 16384 a side, or too narrow for the number of bars).
RgbImage render_bar_chart(const BarChart& c, int width = 1200, int height = 640);

// The bytes of a PNG file of img: 8-bit RGB, non-interlaced, filter type 0 on every row, one IDAT
// chunk holding a zlib stream of stored deflate blocks. Throws vidinfer::Error when img's size is
// not positive, rgb.size() is not width * height * 3, or the image is too large for one IDAT chunk.
std::vector<uint8_t> encode_png(const RgbImage& img);

// Writes encode_png(img) to path: first to path + ".part", then renamed over path, so path is
// either absent/old or complete. Throws vidinfer::Error("cannot write PNG", path, cause), the
// partial file removed.
void write_png(const std::string& path, const RgbImage& img);

}  // namespace vidinfer
