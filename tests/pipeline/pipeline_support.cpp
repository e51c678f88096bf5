#include "pipeline_support.h"

#include "support.h"
#include "vidinfer/pipeline.h"

namespace vidinfer::test::pipeline {

// 128x96, 25 fps: 1 s red, 1 s green, 1 s blue = 75 frames.
std::string rgb_clip() {
  return test::clip("rgb-segments", "mp4",
                    "-f lavfi -i color=red:s=128x96:r=25:d=1 -f lavfi -i color=lime:s=128x96:r=25:d=1 "
                    "-f lavfi -i color=blue:s=128x96:r=25:d=1 -filter_complex concat=n=3:v=1:a=0 "
                    "-c:v libx264 -preset ultrafast -bf 2 -pix_fmt yuv420p");
}

Collected run(const RunOptions& opt, const std::vector<std::string>& inputs, bool first_inputs) {
  Pipeline p(opt, first_inputs ? inputs : std::vector<std::string>{});
  Collected c;
  c.summary = p.run(inputs, [&](const FrameResult& r) { c.frames.push_back(r); });
  return c;
}

RunOptions classify_options(const std::string& model) {
  RunOptions o = test::channel_mean_options(model, 32, 8);
  o.device = Device::cpu();
  return o;
}

}  // namespace vidinfer::test::pipeline
