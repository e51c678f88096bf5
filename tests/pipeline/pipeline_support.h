// Helpers shared by the CPU pipeline test files (one test executable, pipeline_test): the
// red-green-blue clip, a run that collects its results, the channel-mean classifier's options and the
// test fixture with its temporary folder.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"

namespace vidinfer::test::pipeline {

// 128x96, 25 fps: 1 s red, 1 s green, 1 s blue = 75 frames.
std::string rgb_clip();

struct Collected {
  std::vector<FrameResult> frames;
  RunSummary summary;
};

// first_inputs: the inputs given to the pipeline's constructor as well (see Pipeline).
Collected run(const RunOptions& opt, const std::vector<std::string>& inputs, bool first_inputs = false);

RunOptions classify_options(const std::string& model);

class PipelineTest : public ::testing::Test {
 protected:
  test::TempDir dir;
};

}  // namespace vidinfer::test::pipeline
