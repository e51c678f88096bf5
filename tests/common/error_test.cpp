#include <gtest/gtest.h>

#include "common/av.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

TEST(Error, NamesInputWhatAndCauseOnOneLine) {
  Error e("cannot open input", "clip.mp4", "file not found");
  EXPECT_STREQ(e.what(), "clip.mp4: cannot open input: file not found");
  EXPECT_EQ(e.input(), "clip.mp4");
  EXPECT_EQ(e.cause(), "file not found");
}

TEST(Error, OmitsEmptyPartsAndFoldsNewlines) {
  EXPECT_STREQ(Error("model forward failed", "", "shape mismatch\nat line 3\n").what(),
               "model forward failed: shape mismatch at line 3");
  EXPECT_STREQ(Error("out of memory").what(), "out of memory");
}

TEST(Error, WithInputAddsTheFile) {
  Error e = Error("cannot convert frame", "", "unsupported pixel format").with_input("a.mkv");
  EXPECT_STREQ(e.what(), "a.mkv: cannot convert frame: unsupported pixel format");
}

TEST(Error, AvCheckTranslatesFfmpegCodes) {
  try {
    VI_AV_CHECK(AVERROR_INVALIDDATA, "in.ts");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("in.ts: AVERROR_INVALIDDATA failed: Invalid data found when processing input"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("error_test.cpp:"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace vidinfer
