// Sharding an input list (vidinfer/shard.h): round-robin over the list's positions.
#include "vidinfer/shard.h"

#include <charconv>
#include <string_view>

#include "vidinfer/error.h"

namespace vidinfer {
namespace {

// A whole decimal number: digits only (no sign, blank or leading '+'), no overflow.
bool parse_count(std::string_view s, size_t& out) {
  if (s.empty()) return false;
  for (const char c : s)
    if (c < '0' || c > '9') return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

void check(const ShardSpec& s, const std::string& text) {
  if (s.count < 1) throw Error("invalid shard '" + text + "'", "", "the count must be at least 1");
  if (s.index >= s.count)
    throw Error("invalid shard '" + text + "'", "",
                "the index must be below the count (0 to " + std::to_string(s.count - 1) + " for " +
                    std::to_string(s.count) + (s.count == 1 ? " shard)" : " shards)"));
}

}  // namespace

ShardSpec parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  ShardSpec s;
  if (slash == std::string::npos || !parse_count(std::string_view(text).substr(0, slash), s.index) ||
      !parse_count(std::string_view(text).substr(slash + 1), s.count))
    throw Error("invalid shard '" + text + "'", "",
                "expected I/N, shard I of N with I counting from 0 (for example 0/4 to 3/4)");
  check(s, text);
  return s;
}

std::vector<size_t> shard_indices(size_t n_inputs, const ShardSpec& shard) {
  check(shard, std::to_string(shard.index) + "/" + std::to_string(shard.count));
  std::vector<size_t> out;
  if (shard.index < n_inputs) out.reserve((n_inputs - shard.index + shard.count - 1) / shard.count);
  for (size_t i = shard.index; i < n_inputs; i += shard.count) {
    out.push_back(i);
    if (n_inputs - i <= shard.count) break;  // i + count would reach n_inputs (or wrap around)
  }
  return out;
}

std::vector<std::string> shard_inputs(const std::vector<std::string>& inputs, const ShardSpec& shard) {
  std::vector<std::string> out;
  for (const size_t i : shard_indices(inputs.size(), shard)) out.push_back(inputs[i]);
  return out;
}

}  // namespace vidinfer
