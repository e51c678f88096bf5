// Where a frame lands in the model input for each resize mode, and the way back for boxes.
// Pure functions of sizes; shared by the CPU reference, the GPU kernel and post-processing.
#pragma once

#include <string>
#include <utility>

#include "vidinfer/options.h"

namespace vidinfer {

struct Geometry {
  int src_w = 0, src_h = 0;        // the frame as shown (decoded frame, turned by `rotation`)
  int dst_w = 0, dst_h = 0;        // model input
  int scaled_w = 0, scaled_h = 0;  // the frame after resizing, before padding/cropping
  int offset_x = 0, offset_y = 0;  // top-left of the scaled frame in the model input (< 0: cropped)
  double scale_x = 1, scale_y = 1; // scaled / src
  int rotation = 0;                // clockwise turn of the decoded frame to show it: 0, 90, 180, 270

  // Model-input coordinates to frame coordinates (not clipped).
  double to_frame_x(double x) const { return (x - offset_x) / scale_x; }
  double to_frame_y(double y) const { return (y - offset_y) / scale_y; }
};

// stretch: the whole frame to the input size. letterbox: fit inside, keep aspect, pad centred.
// center-crop: cover the input, keep aspect, crop centred.
// rotation: the clockwise turn (0, 90, 180, 270) applied to the decoded src_w x src_h frame first;
// the geometry is then that of the turned frame (90, 270: src_h x src_w).
Geometry plan_geometry(int src_w, int src_h, const ModelSpec& spec, int rotation = 0);

// The clockwise turn (0, 90, 180, 270) that shows a stream whose display matrix says `ccw_degrees`
// (StreamInfo::rotation, counter-clockwise), rounded to the nearest quarter turn.
int display_turn(double ccw_degrees);

// Turning commutes with resizing, so a turned frame is resized unturned (to scaled_h x scaled_w for a
// quarter turn) and turned while it is written. unturn: for pixel (u, v) of the turned, scaled frame
// (0 <= u < scaled_w, 0 <= v < scaled_h), the pixel (a, b) of the unturned, scaled frame it shows.
inline void unturn(const Geometry& g, int u, int v, int& a, int& b) {
  const int w = g.rotation % 180 ? g.scaled_h : g.scaled_w;
  const int h = g.rotation % 180 ? g.scaled_w : g.scaled_h;
  switch (g.rotation) {
    case 90: a = v; b = h - 1 - u; break;
    case 180: a = w - 1 - u; b = h - 1 - v; break;
    case 270: a = w - 1 - v; b = u; break;
    default: a = u; b = v;
  }
}

// The size NVDEC's scaler should decode a frame planned as `g` to (RunOptions::nvdec_resize): the
// scaled frame unturned (scaled_h x scaled_w for a quarter turn, see unturn), so that the kernel only
// converts colour, pads or crops, turns and normalises. Else the decoded picture's own size (src
// unturned), which leaves the resize to the kernel as without the option, and `why` (when given) says
// why:
//  - an odd scaled width or height: NVDEC's output size must be even (CUVIDDECODECREATEINFO's
//    ulTargetWidth/Height), and decoding to the nearest even size would need a second, small resize
//    in the kernel: two resamples where one does;
//  - a scaled size larger than the picture on either axis: an upscale gains nothing (a surface larger
//    than the picture to map and read), and the kernel's upscale is the CPU reference's filter;
//  - the same size: nothing to scale.
std::pair<int, int> nvdec_target_size(const Geometry& g, std::string* why = nullptr);

}  // namespace vidinfer
