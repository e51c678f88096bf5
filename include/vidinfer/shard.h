// Sharding an input list for job arrays (vidinfer run --shard I/N): which inputs shard I of N takes.
// A pure function of the list's length and the shard: no environment, no files. (`--shard auto`, which
// reads a Slurm or Kubernetes index from the environment, is resolved by the command line.)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace vidinfer {

// Shard `index` of `count`, the index counting from 0 (as Slurm array task ids and Kubernetes
// completion indexes do). Valid when count >= 1 and index < count.
struct ShardSpec {
  size_t index = 0;
  size_t count = 1;
};

// Parses "I/N": two whole decimal numbers (digits only, no sign or blanks), N >= 1, I < N. Throws
// vidinfer::Error with a one-line message otherwise, for example
//   invalid shard '4/4': the index must be below the count (0 to 3 for 4 shards)
ShardSpec parse_shard(const std::string& text);

// The positions (0-based, ascending) of the inputs that `shard` takes from a list of `n_inputs`:
// round-robin, so shard I takes positions I, I + N, I + 2N, ... For every N, the N shards are
// disjoint and together take every position once; their sizes differ by at most 1; and inputs
// appended to the list later never move an earlier input to another shard (so `--resume` into each
// shard's own output still finds what that shard completed). Throws vidinfer::Error for an invalid
// spec (count 0, index >= count).
std::vector<size_t> shard_indices(size_t n_inputs, const ShardSpec& shard);

// The inputs at shard_indices(inputs.size(), shard), in list order.
std::vector<std::string> shard_inputs(const std::vector<std::string>& inputs, const ShardSpec& shard);

}  // namespace vidinfer
