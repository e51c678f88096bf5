#include "preprocess/geometry.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace vidinfer {

int display_turn(double ccw_degrees) {
  if (!std::isfinite(ccw_degrees)) return 0;
  const long q = std::lround(-ccw_degrees / 90.0);
  return static_cast<int>(((q % 4) + 4) % 4) * 90;
}

Geometry plan_geometry(int src_w, int src_h, const ModelSpec& spec, int rotation) {
  Geometry g;
  g.rotation = rotation;
  if (rotation == 90 || rotation == 270) std::swap(src_w, src_h);
  g.src_w = src_w;
  g.src_h = src_h;
  g.dst_w = spec.width;
  g.dst_h = spec.height;
  const double sx = static_cast<double>(spec.width) / src_w;
  const double sy = static_cast<double>(spec.height) / src_h;
  switch (spec.resize) {
    case ResizeMode::Stretch:
      g.scaled_w = spec.width;
      g.scaled_h = spec.height;
      break;
    case ResizeMode::Letterbox:
    case ResizeMode::CenterCrop: {
      const double s = spec.resize == ResizeMode::Letterbox ? std::min(sx, sy) : std::max(sx, sy);
      g.scaled_w = std::max(1, static_cast<int>(std::lround(src_w * s)));
      g.scaled_h = std::max(1, static_cast<int>(std::lround(src_h * s)));
      if (spec.resize == ResizeMode::Letterbox) {
        g.scaled_w = std::min(g.scaled_w, spec.width);
        g.scaled_h = std::min(g.scaled_h, spec.height);
      } else {
        g.scaled_w = std::max(g.scaled_w, spec.width);
        g.scaled_h = std::max(g.scaled_h, spec.height);
      }
      // Integer division rounds toward zero, so a crop's offset is -floor(excess / 2).
      g.offset_x = (spec.width - g.scaled_w) / 2;
      g.offset_y = (spec.height - g.scaled_h) / 2;
      break;
    }
  }
  g.scale_x = static_cast<double>(g.scaled_w) / src_w;
  g.scale_y = static_cast<double>(g.scaled_h) / src_h;
  return g;
}

std::pair<int, int> nvdec_target_size(const Geometry& g, std::string* why) {
  const bool quarter = g.rotation % 180 != 0;
  const int w = quarter ? g.src_h : g.src_w, h = quarter ? g.src_w : g.src_h;  // the decoded picture
  const int tw = quarter ? g.scaled_h : g.scaled_w, th = quarter ? g.scaled_w : g.scaled_h;
  const std::string scaled = std::to_string(tw) + "x" + std::to_string(th);
  const std::string picture = std::to_string(w) + "x" + std::to_string(h);
  std::string reason;
  if (tw == w && th == h)
    reason = "the frame keeps its size " + picture;
  else if (tw > w || th > h)
    reason = "an axis is enlarged (" + picture + " to " + scaled + ")";
  else if (tw % 2 || th % 2)
    reason = "the scaled size " + scaled + " is odd (NVDEC scales to even sizes only)";
  if (why) *why = reason;
  return reason.empty() ? std::pair{tw, th} : std::pair{w, h};
}

}  // namespace vidinfer
