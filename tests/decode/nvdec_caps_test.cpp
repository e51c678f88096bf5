#include <gtest/gtest.h>

#include "decode/nvdec_caps.h"

namespace vidinfer {
namespace {

// Empty when this machine has an NVIDIA driver, else why not.
std::string no_driver() {
  const auto s = nvdec_supports(AV_CODEC_ID_H264, AV_PIX_FMT_YUV420P, 1920, 1080);
  return !s.supported && s.reason.find("NVIDIA driver") != std::string::npos ? s.reason : "";
}

TEST(NvdecCaps, WithoutADriverTheAnswerIsNoWithAReason) {
  const auto s = nvdec_supports(AV_CODEC_ID_H264, AV_PIX_FMT_YUV420P, 1920, 1080);
  if (s.supported) GTEST_SKIP() << "this machine has NVDEC: " << s.reason;
  EXPECT_FALSE(s.reason.empty());
}

TEST(NvdecCaps, CodecsNvdecNeverDecodes) {
  const auto s = nvdec_supports(AV_CODEC_ID_PRORES, AV_PIX_FMT_YUV422P10LE, 1920, 1080);
  EXPECT_FALSE(s.supported);
  EXPECT_EQ(s.reason, "NVDEC does not decode prores");
}

TEST(NvdecCaps, GpuAnswersForCommonStreams) {
  if (const auto why = no_driver(); !why.empty()) GTEST_SKIP() << why;
  for (auto [codec, fmt] : {std::pair{AV_CODEC_ID_H264, AV_PIX_FMT_YUV420P}, {AV_CODEC_ID_HEVC, AV_PIX_FMT_YUV420P},
                            {AV_CODEC_ID_HEVC, AV_PIX_FMT_YUV420P10LE}, {AV_CODEC_ID_VP9, AV_PIX_FMT_YUV420P}}) {
    const auto s = nvdec_supports(codec, fmt, 1920, 1080);
    EXPECT_TRUE(s.supported) << s.reason;
    EXPECT_EQ(s.reason.rfind("NVDEC on ", 0), 0u) << s.reason;
  }
  const auto huge = nvdec_supports(AV_CODEC_ID_H264, AV_PIX_FMT_YUV420P, 16384, 16384);
  EXPECT_FALSE(huge.supported);
  EXPECT_NE(huge.reason.find("exceeds NVDEC's limit"), std::string::npos) << huge.reason;
  const auto h264_444 = nvdec_supports(AV_CODEC_ID_H264, AV_PIX_FMT_YUV444P, 1920, 1080);
  EXPECT_FALSE(h264_444.supported) << "NVDEC decodes H.264 4:2:0 only";
}

}  // namespace
}  // namespace vidinfer
