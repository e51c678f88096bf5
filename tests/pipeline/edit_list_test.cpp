// MP4 edit lists whose first shown frame is not a keyframe: what a stream-copied trim writes
// (`ffmpeg -ss 1.3 -i in.mp4 -c copy out.mp4`, and many phone and editor trims). The file keeps the
// GOP from the keyframe before the cut as pre-roll, decoded but not shown. The reference is
// ffprobe's own count and timestamps of the shown frames (`-count_frames`, `-show_entries frame`):
// frame indices are how users join results to the video, so they must be the ones ffprobe counts,
// whole and in segments.
#include <gtest/gtest.h>

#include "demux/demuxer.h"
#include "edit_list_clip.h"
#include "support.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

// ffprobe -count_frames: the frames a player shows.
int64_t ffprobe_frame_count(const std::string& path) {
  int rc = 0;
  const std::string out = test::sh("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                                   "stream=nb_read_frames -of csv=p=0 " + test::q(path), &rc);
  EXPECT_EQ(rc, 0) << out;
  return std::stoll(out);
}

TEST(EditList, CpuPathNumbersAndCountsTheShownFramesAsFfprobe) {
  const std::string clip = test::edit_list_clip();
  const auto ref = test::ffprobe_frames(clip);
  const int64_t shown = ffprobe_frame_count(clip);
  ASSERT_EQ(static_cast<int64_t>(ref.size()), shown);
  // The premise: the file holds more pictures than it shows (the pre-roll), starting at a keyframe.
  EXPECT_EQ(test::ffprobe_stream(clip).at("nb_read_packets").get<std::string>(), std::to_string(shown + 39));
  EXPECT_EQ(Demuxer(clip).stream().nb_frames, shown) << "the container's count less the pre-roll";

  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  for (const int segments : {1, 3}) {
    SCOPED_TRACE("segments " + std::to_string(segments));
    RunOptions o = test::channel_mean_options(dir.file("m.pt"), 32, 8);
    o.device = Device::cpu();
    o.segments = segments;
    std::vector<FrameResult> frames;
    Pipeline p(o);
    const RunSummary s = p.run({clip}, [&](const FrameResult& f) { frames.push_back(f); });
    ASSERT_EQ(s.inputs.size(), 1u);
    EXPECT_EQ(s.inputs[0].status, InputStatus::Ok) << s.inputs[0].error;
    EXPECT_EQ(s.inputs[0].frames_decoded, shown);
    if (segments > 1) {
      EXPECT_NE(s.inputs[0].decoder.find("segments decoded at once"), std::string::npos) << s.inputs[0].decoder;
    }
    ASSERT_EQ(static_cast<int64_t>(frames.size()), shown);
    for (size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(frames[i].frame_index, static_cast<int64_t>(i));
      EXPECT_NEAR(frames[i].pts, ref[i].pts, 1e-6) << "frame " << i;
    }
  }
}

}  // namespace
}  // namespace vidinfer
