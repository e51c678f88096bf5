// vidinfer run --shard: the flag's value made into the shard to run, reading a job array's index from
// the environment for `auto` (the library's split, vidinfer/shard.h, reads no environment).
#pragma once

#include <string>

#include "vidinfer/shard.h"

namespace vidinfer {

// The shard `vidinfer run --shard TEXT` names, and where it came from.
struct ResolvedShard {
  ShardSpec spec;
  std::string source;  // "" for I/N; else the variables read, e.g. "SLURM_ARRAY_TASK_ID 5 - SLURM_ARRAY_TASK_MIN 1"
};

// TEXT is "I/N" (parse_shard), "auto" or "auto/N". `auto` reads the job array's index:
// - Slurm (SLURM_ARRAY_TASK_ID set): `auto` takes shard SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN
//   (MIN defaults to 0) of SLURM_ARRAY_TASK_COUNT, and needs the array to be one range of ids
//   (MAX - MIN + 1 == COUNT, when MAX is set), so --array=0-7 and --array=1-8 both make shards 0..7;
//   `auto/N` takes shard SLURM_ARRAY_TASK_ID of N, the ids as given (so some tasks can be submitted
//   again alone: --array=3,5).
// - Kubernetes Indexed Job (JOB_COMPLETION_INDEX set): `auto/N` takes shard JOB_COMPLETION_INDEX of N
//   (N: the Job's completions); plain `auto` is an error, as the count is not in the environment.
// Slurm's variables win when both are set. Throws vidinfer::Error (a usage error) with one line
// that says what is missing or wrong.
ResolvedShard shard_from_flag(const std::string& text);

}  // namespace vidinfer
