// The model on the CPU: LibTorch's thread count (the cores this process may use, or the number
// asked for) and the frozen, inference-optimised module, whose outputs must be the module's own as
// loaded (the reference: the same file through torch::jit::load, unfrozen) within what the heads
// round away; and that LibTorch's warnings from that module reach the user only where they say something.
#include <gtest/gtest.h>
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "infer/resize_warning_filter.h"
#include "infer/torchscript_model.h"
#include "support.h"

namespace vidinfer {
namespace {

// Collects the warnings LibTorch raises on this thread while it lives (instead of printing them).
class CollectWarnings final : public c10::WarningHandler {
 public:
  CollectWarnings() : previous_(thread_warning_handler()) { set_thread_warning_handler(this); }
  ~CollectWarnings() override { set_thread_warning_handler(previous_); }
#if TORCH_VERSION_MAJOR >= 2
  void process(const c10::Warning& w) override { messages.push_back(w.msg()); }
#else
  void process(const c10::SourceLocation&, const std::string& msg, bool) override { messages.push_back(msg); }
#endif
  std::vector<std::string> messages;

 private:
  c10::WarningHandler* previous_;
};

int resize_warnings(const std::vector<std::string>& messages) {
  return static_cast<int>(std::count_if(messages.begin(), messages.end(), is_resize_warning));
}

TEST(ModelCpu, ResizeWarningFilterDropsOnlyLibTorchsResizeWarningAndOnlyWhileItLives) {
  const std::string resize =
      "An output with one or more elements was resized since it had shape [80], which does not match the required "
      "output shape [72]. This behavior is deprecated";
  CollectWarnings seen;
  {
    ResizeWarningFilter quiet;
    TORCH_WARN(resize);
    TORCH_WARN("something else about shape [80]");
    TORCH_WARN("Warning: ", resize);  // the same words, not at the start: another warning
  }
  TORCH_WARN(resize);
  ASSERT_EQ(seen.messages.size(), 3u);
  EXPECT_EQ(seen.messages[0], "something else about shape [80]");
  EXPECT_EQ(seen.messages[1], "Warning: " + resize);
  EXPECT_EQ(seen.messages[2], resize);
}

TEST(ModelCpu, UsesTheCoresThisProcessMayUseOrTheNumberAskedFor) {
  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  // coreutils' nproc: sched_getaffinity too, another path (it would follow OMP_NUM_THREADS as well).
  const int allowed = std::stoi(test::sh("env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc"));
  EXPECT_EQ(cpu_threads_available(), allowed);
  // This test sets OMP_NUM_THREADS itself (below); it is put back as it was at the end.
  const char* outer = std::getenv("OMP_NUM_THREADS");
  const std::string outer_value = outer ? outer : "";
  unsetenv("OMP_NUM_THREADS");
  {
    TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32, 1);
    EXPECT_EQ(at::get_num_threads(), 1);
  }
  {
    TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32);
    EXPECT_EQ(at::get_num_threads(), allowed);
  }
  // OMP_NUM_THREADS, the OpenMP runtime's own setting, is followed when no count is asked for; a
  // count asked for wins over it, and a value that is not a positive number is ignored.
  setenv("OMP_NUM_THREADS", "3", 1);
  {
    TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32);
    EXPECT_EQ(at::get_num_threads(), 3);
  }
  {
    TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32, 2);
    EXPECT_EQ(at::get_num_threads(), 2);
  }
  setenv("OMP_NUM_THREADS", "lots", 1);
  EXPECT_EQ(default_cpu_threads(), allowed);
  if (outer) setenv("OMP_NUM_THREADS", outer_value.c_str(), 1);
  else unsetenv("OMP_NUM_THREADS");
  // Capped from outside: a process allowed one core uses one thread.
  const std::string one = test::sh("env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT taskset -c 0 nproc");
  EXPECT_EQ(std::stoi(one), 1);
}

TEST(ModelCpu, FrozenCenterNetGivesTheLoadedModulesOutputs) {
  const std::string path = std::string(VIDINFER_SOURCE_DIR) + "/models/centernet/centernet.pt";
  std::ifstream f(std::string(VIDINFER_SOURCE_DIR) + "/tests/data/centernet/dog.512x512.rgb24", std::ios::binary);
  std::vector<uint8_t> rgb((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(rgb.size(), 512u * 512 * 3);
  // The model's input: RGB on the 0..255 scale, [1,3,512,512] (its sidecar: mean 0, std 1/255).
  const auto x = torch::from_blob(rgb.data(), {1, 512, 512, 3}, torch::kUInt8).permute({0, 3, 1, 2}).to(torch::kFloat).contiguous();

  torch::jit::Module plain = torch::jit::load(path);
  plain.eval();
  torch::NoGradGuard no_grad;
  const auto want = plain.forward({x}).toTuple()->elements();

  TorchScriptModel m(path, torch::kCPU, DType::Float32);
  EXPECT_TRUE(m.optimized_for_cpu());
  CollectWarnings seen;
  // Twice: the graph executor optimises the module again from its second run (batch 2, then 1).
  (void)m.forward(torch::cat({x, x}));
  const auto got = m.forward(x).toTuple()->elements();
  // Debian's LibTorch 1.13 raises its resize warning in this module's every forward (about its own
  // buffers, with the outputs right): the user must not see it (resize_warning_filter.h).
  EXPECT_EQ(resize_warnings(seen.messages), 0) << seen.messages.front();
  {
    torch::InferenceMode mode;
    auto frozen = torch::jit::freeze(plain);
    auto raw = torch::jit::optimize_for_inference(frozen);
    (void)raw.forward({x});
  }
  std::printf("[ frozen   ] the same module frozen by hand: %d resize warnings\n", resize_warnings(seen.messages));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const auto a = got[i].toTensor(), b = want[i].toTensor();
    ASSERT_EQ(a.sizes(), b.sizes());
    const double diff = (a - b).abs().max().item<double>();
    const double scale = b.abs().max().item<double>();
    std::printf("[ frozen   ] output %zu: max |frozen - loaded| %.3g (values up to %.3g)\n", i, diff, scale);
    // Scores are written with 6 significant digits and boxes to 0.01 px: 1e-4 of the output's range
    // (conv + batch norm folded, oneDNN's summation order) stays below both.
    EXPECT_LE(diff, 1e-4 * std::max(1.0, scale)) << "output " << i;
  }
}

}  // namespace
}  // namespace vidinfer
