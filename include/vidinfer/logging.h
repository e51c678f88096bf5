// What the media libraries underneath (FFmpeg) print on stderr by themselves. vidinfer reports every
// failure through vidinfer::Error; their own messages are for diagnosing a file (vidinfer -v).
#pragma once

namespace vidinfer {

enum class MediaLog { Quiet, Warnings };
void set_media_log(MediaLog level);  // process-wide

}  // namespace vidinfer
