// The stream-copied trim the edit-list tests share (CPU and GPU): 320x240 H.264 at 30 fps, 8 s,
// keyframes every 2 s, B-frames, cut at 1.3 s with `-c copy`, so the file starts with 39 pre-roll
// pictures (from the keyframe at 0 s to the cut) that its edit list hides.
#pragma once

#include <string>

#include "support.h"

namespace vidinfer::test {

inline std::string edit_list_clip() {
  const std::string whole = clip("editlist-src", "mp4", "-f lavfi -i testsrc2=size=320x240:rate=30:duration=8 "
                                 "-c:v libx264 -preset ultrafast -g 60 -keyint_min 60 -sc_threshold 0 -bf 2 "
                                 "-pix_fmt yuv420p");
  return clip("editlist-trim", "mp4", "-ss 1.3 -i " + q(whole) + " -c copy");
}

}  // namespace vidinfer::test
