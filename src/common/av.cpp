#include "common/av.h"

#include "vidinfer/logging.h"

#include <filesystem>

namespace vidinfer {

void throw_av_error(int code, const char* call, const std::string& input, const char* file, int line) {
  std::string where = std::filesystem::path(file).filename().string() + ":" + std::to_string(line);
  throw Error(std::string(call) + " failed", input, av_error_text(code) + " (" + where + ")");
}

}  // namespace vidinfer

namespace vidinfer {
void set_media_log(MediaLog level) { av_log_set_level(level == MediaLog::Quiet ? AV_LOG_QUIET : AV_LOG_WARNING); }
}  // namespace vidinfer
