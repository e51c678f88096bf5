// vidinfer bench: its own command-line values (the model's are RunArgs) and the command, which runs
// the library's bench (include/vidinfer/bench.h) and prints its table.
#pragma once

#include <string>

#include "run_command.h"

namespace vidinfer::cli {

struct BenchArgs {
  std::string modes = "baseline,vidinfer,preprocess,decode,model", frames, json, chart, work_dir;
  int copies = 1;
  int live = 0;  // --live N: N simulated cameras (--modes live --copies N)
};

// vidinfer bench; `command`: the command line, for the report. Returns the exit status (exit_codes.h).
int do_bench(RunArgs& a, const BenchArgs& b, const std::string& command);

}  // namespace vidinfer::cli
