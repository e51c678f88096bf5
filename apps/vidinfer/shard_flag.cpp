#include "shard_flag.h"

#include <cstdlib>
#include <optional>
#include <string>

#include "vidinfer/error.h"

namespace vidinfer {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A whole decimal number (digits only), or nullopt when not set (or set empty); throws when set to
// anything else.
std::optional<size_t> env_number(const char* name, const std::string& flag) {
  const std::string v = env(name);
  if (v.empty()) return std::nullopt;
  size_t n = 0;
  bool ok = v.size() <= 18;
  for (const char c : v) ok = ok && c >= '0' && c <= '9';
  if (ok) n = std::stoull(v);
  if (!ok) throw Error(flag, "", std::string(name) + " is '" + v + "', not a whole number");
  return n;
}

}  // namespace

ResolvedShard shard_from_flag(const std::string& text) {
  if (text.rfind("auto", 0) != 0) {
    try {
      return {parse_shard(text), ""};
    } catch (const Error& e) {
      const bool syntax = e.cause().rfind("expected", 0) == 0;
      throw Error("invalid --shard '" + text + "'", "", syntax ? e.cause() + ", or auto or auto/N" : e.cause());
    }
  }
  const std::string flag = "--shard " + text;
  std::optional<size_t> count;
  if (text != "auto") {
    ShardSpec given;
    try {
      if (text[4] != '/') throw Error("");
      given = parse_shard("0" + text.substr(4));
    } catch (const Error&) {
      throw Error("invalid --shard '" + text + "'", "",
                  "expected I/N, auto or auto/N, with N >= 1 the shard count (for example auto/8)");
    }
    count = given.count;
  }
  ResolvedShard r;
  if (const auto id = env_number("SLURM_ARRAY_TASK_ID", flag)) {
    if (count) {
      r.spec = {*id, *count};
      r.source = "SLURM_ARRAY_TASK_ID " + std::to_string(*id);
      if (*id >= *count)
        throw Error(flag, "",
                    "SLURM_ARRAY_TASK_ID is " + std::to_string(*id) + ", and with the count given the task id is the "
                    "shard index, which must be below " + std::to_string(*count) + " (submit --array=0-" +
                    std::to_string(*count - 1) + ")");
      return r;
    }
    const auto task_count = env_number("SLURM_ARRAY_TASK_COUNT", flag);
    if (!task_count)
      throw Error(flag, "", "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give the shard count as "
                            "--shard auto/N");
    const size_t min = env_number("SLURM_ARRAY_TASK_MIN", flag).value_or(0);
    const auto max = env_number("SLURM_ARRAY_TASK_MAX", flag);
    const std::string range = "SLURM_ARRAY_TASK_MIN " + std::to_string(min) +
                              (max ? ", SLURM_ARRAY_TASK_MAX " + std::to_string(*max) : std::string()) +
                              ", SLURM_ARRAY_TASK_COUNT " + std::to_string(*task_count);
    if (*task_count < 1 || *id < min || *id - min >= *task_count || (max && (*max < min || *max - min + 1 != *task_count)))
      throw Error(flag, "",
                  "the Slurm array is not one range of task ids (SLURM_ARRAY_TASK_ID " + std::to_string(*id) + ", " +
                      range + "): give the shard count as --shard auto/N, and each task id is then its shard index");
    r.spec = {*id - min, *task_count};
    r.source = "SLURM_ARRAY_TASK_ID " + std::to_string(*id) + (min ? " - SLURM_ARRAY_TASK_MIN " + std::to_string(min) : "");
    return r;
  }
  if (const auto index = env_number("JOB_COMPLETION_INDEX", flag)) {
    if (!count)
      throw Error(flag, "", "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but the shard count is not in "
                            "the environment: give it as --shard auto/N, N being the Job's completions");
    if (*index >= *count)
      throw Error(flag, "", "JOB_COMPLETION_INDEX is " + std::to_string(*index) + ", not below the shard count " +
                                std::to_string(*count) + " (set the Job's completions to the count)");
    r.spec = {*index, *count};
    r.source = "JOB_COMPLETION_INDEX " + std::to_string(*index);
    return r;
  }
  throw Error(flag, "",
              "no job array index in the environment: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor "
              "JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give the shard as --shard I/N");
}

}  // namespace vidinfer
