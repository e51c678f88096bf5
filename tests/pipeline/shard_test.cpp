// Sharding an input list (vidinfer/shard.h): every shard of N, for many list lengths, is disjoint
// from the others, and together they take the whole list; the split is round-robin and stable.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <tuple>

#include "support.h"
#include "vidinfer/shard.h"

namespace vidinfer {
namespace {

TEST(Shard, EveryShardOfNIsDisjointAndTogetherTheyTakeTheWholeList) {
  for (size_t n = 0; n <= 40; ++n) {
    for (size_t count : {1, 2, 3, 4, 5, 7, 8, 16, 39, 40, 41, 100}) {
      SCOPED_TRACE("n " + std::to_string(n) + ", count " + std::to_string(count));
      std::vector<int> taken(n, 0);
      size_t smallest = n, largest = 0;
      for (size_t index = 0; index < count; ++index) {
        const auto got = shard_indices(n, {index, count});
        EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
        for (const size_t i : got) {
          ASSERT_LT(i, n);
          ++taken[i];
          EXPECT_EQ(i % count, index) << "round-robin: position i goes to shard i mod N";
        }
        smallest = std::min(smallest, got.size());
        largest = std::max(largest, got.size());
        EXPECT_EQ(got, shard_indices(n, {index, count})) << "the same list gives the same shard";
      }
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(taken[i], 1) << "position " << i;
      EXPECT_LE(largest - smallest, 1u) << "shard sizes differ by at most 1";
    }
  }
}

// Inputs appended to the list later go to shards of their own positions; every earlier input stays
// in its shard, so a shard's own output (and --resume into it) stays valid.
TEST(Shard, AppendingInputsKeepsTheEarlierOnesInTheirShards) {
  for (size_t count : {1, 3, 4}) {
    for (size_t index = 0; index < count; ++index) {
      const auto before = shard_indices(10, {index, count});
      const auto after = shard_indices(17, {index, count});
      ASSERT_GE(after.size(), before.size());
      EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin()));
    }
  }
  EXPECT_EQ(shard_indices(10, {1, 4}), (std::vector<size_t>{1, 5, 9}));
  EXPECT_EQ(shard_indices(2, {3, 4}), std::vector<size_t>{});
  EXPECT_EQ(shard_indices(5, {0, 1}), (std::vector<size_t>{0, 1, 2, 3, 4}));
}

TEST(Shard, HugeCountsDoNotWrapAround) {
  const size_t big = std::numeric_limits<size_t>::max();
  EXPECT_EQ(shard_indices(5, {2, big}), std::vector<size_t>{2});
  EXPECT_EQ(shard_indices(5, {big - 1, big}), std::vector<size_t>{});
  EXPECT_EQ(shard_indices(big, {big - 2, big - 1}), std::vector<size_t>{big - 2});
}

TEST(Shard, ShardInputsKeepsTheListOrder) {
  const std::vector<std::string> list{"a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"};
  EXPECT_EQ(shard_inputs(list, {0, 2}), (std::vector<std::string>{"a.mp4", "c.mp4", "e.mp4"}));
  EXPECT_EQ(shard_inputs(list, {1, 2}), (std::vector<std::string>{"b.mp4", "d.mp4"}));
  EXPECT_EQ(shard_inputs(list, {4, 6}), (std::vector<std::string>{"e.mp4"}));
  EXPECT_TRUE(shard_inputs(list, {5, 6}).empty());
}

TEST(Shard, ParseReadsIndexAndCount) {
  for (const auto& [text, index, count] :
       std::vector<std::tuple<std::string, size_t, size_t>>{{"0/1", 0, 1}, {"3/4", 3, 4}, {"0/4", 0, 4},
                                                            {"099/100", 99, 100}, {"12/1000000", 12, 1000000}}) {
    const ShardSpec s = parse_shard(text);
    EXPECT_EQ(s.index, index) << text;
    EXPECT_EQ(s.count, count) << text;
  }
}

TEST(Shard, ParseErrorsSayWhatIsWrong) {
  const std::string syntax = ": expected I/N, shard I of N with I counting from 0 (for example 0/4 to 3/4)";
  for (const std::string bad : {"", "3", "a/4", "1/", "/4", "-1/4", "+1/4", " 1/4", "1/4 ", "1/b", "0/1/2", "1.0/4",
                                "1/4.", "0x1/4", "99999999999999999999999/1"})
    EXPECT_EQ(test::error_of([&] { parse_shard(bad); }), "invalid shard '" + bad + "'" + syntax) << bad;
  EXPECT_EQ(test::error_of([] { parse_shard("0/0"); }), "invalid shard '0/0': the count must be at least 1");
  EXPECT_EQ(test::error_of([] { parse_shard("4/4"); }),
            "invalid shard '4/4': the index must be below the count (0 to 3 for 4 shards)");
  EXPECT_EQ(test::error_of([] { parse_shard("7/4"); }),
            "invalid shard '7/4': the index must be below the count (0 to 3 for 4 shards)");
  EXPECT_EQ(test::error_of([] { parse_shard("1/1"); }),
            "invalid shard '1/1': the index must be below the count (0 to 0 for 1 shard)");
  EXPECT_EQ(test::error_of([] { shard_indices(3, {2, 2}); }),
            "invalid shard '2/2': the index must be below the count (0 to 1 for 2 shards)");
  EXPECT_EQ(test::error_of([] { shard_indices(3, {0, 0}); }), "invalid shard '0/0': the count must be at least 1");
}

}  // namespace
}  // namespace vidinfer
