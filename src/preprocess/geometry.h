// Where a frame lands in the model input for each resize mode, and the way back for boxes.
// Pure functions of sizes; shared by the CPU reference, the GPU kernel and post-processing.
#pragma once

#include "vidinfer/options.h"

namespace vidinfer {

struct Geometry {
  int src_w = 0, src_h = 0;        // decoded frame
  int dst_w = 0, dst_h = 0;        // model input
  int scaled_w = 0, scaled_h = 0;  // the frame after resizing, before padding/cropping
  int offset_x = 0, offset_y = 0;  // top-left of the scaled frame in the model input (< 0: cropped)
  double scale_x = 1, scale_y = 1; // scaled / src

  // Model-input coordinates to frame coordinates (not clipped).
  double to_frame_x(double x) const { return (x - offset_x) / scale_x; }
  double to_frame_y(double y) const { return (y - offset_y) / scale_y; }
};

// stretch: the whole frame to the input size. letterbox: fit inside, keep aspect, pad centred.
// center-crop: cover the input, keep aspect, crop centred.
Geometry plan_geometry(int src_w, int src_h, const ModelSpec& spec);

}  // namespace vidinfer
