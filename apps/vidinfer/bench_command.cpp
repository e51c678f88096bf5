// vidinfer bench (bench_command.h): its options checked and made into BenchOptions, the bench run,
// and its table, JSON and chart written.
#include "bench_command.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "exit_codes.h"
#include "vidinfer/bench.h"
#include "vidinfer/error.h"
#include "vidinfer/json_lines.h"

namespace vidinfer::cli {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

// vidinfer bench: the usual pipeline and vidinfer's on the same inputs, a table on stdout.
int do_bench(RunArgs& a, const BenchArgs& b, const std::string& command) {
  BenchOptions bo;
  std::vector<std::string> inputs;
  try {
    bo.run = make_run_options(a);
    bo.modes = b.live > 0 ? std::vector<std::string>{"live"} : split_list(b.modes);
    const int copies = b.live > 0 ? b.live : b.copies;
    for (const auto& f : split_list(b.frames)) {
      char* end = nullptr;
      const long long n = std::strtoll(f.c_str(), &end, 10);
      if (*end || n < 1) throw Error("invalid --frames '" + b.frames + "'", "", "expected frame counts >= 1, comma-separated");
      bo.lengths.push_back(n);
    }
    check_bench_options(bo);
    bo.work_dir = b.work_dir;
    if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp) bo.temp_root = tmp;
    bo.command = command;
    if (a.inputs.empty()) throw Error("no inputs", "", "give the video files to benchmark");
    for (int c = 0; c < copies; ++c) inputs.insert(inputs.end(), a.inputs.begin(), a.inputs.end());
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitUsage;
  }
  try {
    BenchReport r = run_bench(bo, inputs, [&](const std::string& line) {
      if (!a.quiet) std::fprintf(stderr, "vidinfer bench: %s\n", line.c_str());
    });
    if (!b.json.empty()) write_file_atomically(b.json, bench_json(r));
    if (!b.chart.empty()) write_bench_chart(r, b.chart);
    std::printf("%s", bench_table(r).c_str());
    std::fflush(stdout);
    return r.any_failed() ? kExitInputsFailed : kExitOk;
  } catch (const Error& e) {
    std::fprintf(stderr, "vidinfer: error: %s\n", e.what());
    return kExitInputsFailed;
  }
}

}  // namespace vidinfer::cli
