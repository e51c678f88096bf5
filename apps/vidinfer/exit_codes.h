// The vidinfer command's exit statuses (docs/cli.md lists them).
#pragma once

namespace vidinfer::cli {

constexpr int kExitOk = 0, kExitInputsFailed = 1, kExitUsage = 2, kExitInterrupted = 130;

}  // namespace vidinfer::cli
