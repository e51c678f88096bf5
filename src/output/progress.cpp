#include "vidinfer/progress.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace vidinfer {

ProgressBar::ProgressBar()
    : enabled_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()), last_() {}

void ProgressBar::update(const Progress& p) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double done = p.input_count ? (p.input_index + p.input_fraction) / p.input_count : 0.0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(done * kWidth + 0.5);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  const std::string name = std::filesystem::path(p.input).filename().string();
  std::fprintf(stderr, "\r\033[K[%s] %3.0f%%  input %zu/%zu  %lld frames  %.1f fps  %s", bar.c_str(), done * 100,
               p.input_index + 1, p.input_count, static_cast<long long>(p.frames), secs > 0 ? p.frames / secs : 0.0,
               name.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace vidinfer
