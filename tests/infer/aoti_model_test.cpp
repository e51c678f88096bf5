// AotiModel against TorchScript with the same weights: tests/infer/make_tiny_aoti.py compiles a tiny
// network (conv, ReLU, pool, linear; two outputs) to AOTInductor packages at test time, one with a
// dynamic batch (1..8, said in its metadata) and one for batch 4 only (said in its sidecar), and
// traces it as TorchScript. The packages' outputs must be the TorchScript model's within
// 1e-4 x max(1, |reference|) (float32, TF32 off on both sides; Inductor fuses and orders the sums
// its own way), for full and partial batches. Skips, saying why, without AOTInductor in this
// build's LibTorch, without a GPU, or without a Python with torch 2.6 or newer.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include "infer/model.h"
#include "infer/model_format.h"
#include "infer/torchscript_model.h"
#include "support.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

using test::error_of;
namespace fs = std::filesystem;

class AotiModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!aoti_supported()) {
      skip_ = "this build's LibTorch (" + torch_version() + ") has no AOTInductor package loader";
      return;
    }
    if (!torch::cuda::is_available()) {
      skip_ = "no GPU";
      return;
    }
    // Compiled once (a minute or so) for every test process: kept under the test data folder by the
    // script's hash, made in a folder of this process's and renamed into place (the first one wins).
    const std::string script = std::string(VIDINFER_SOURCE_DIR) + "/tests/infer/make_tiny_aoti.py";
    const auto bytes = test::read_bytes(script);
    char key[32];
    std::snprintf(key, sizeof key, "%016zx", std::hash<std::string>()(std::string(bytes.begin(), bytes.end())));
    dir_ = std::string(VIDINFER_TEST_DATA_DIR) + "/aoti/tiny-" + key;
    // One process compiles, the others (CTest runs each test as its own process, in parallel) wait
    // for it under a file lock and use its packages: four Inductor compiles at once took four times as
    // long on the GPU machine's 16 cores, and the losers of the race crashed (SIGSEGV, torch 2.11).
    fs::create_directories(fs::path(dir_).parent_path());
    const int lock = ::open((dir_ + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    struct Unlock {
      int fd;
      ~Unlock() {
        if (fd >= 0) ::close(fd);  // closing releases the lock
      }
    } unlock{lock};
    if (fs::exists(dir_ + "/static.pt2.json")) return;
    std::fprintf(stderr, "[ aoti     ] compiling the test packages into %s\n", dir_.c_str());
    const std::string tmp = dir_ + ".tmp-" + std::to_string(getpid());
    fs::create_directories(tmp);
    const std::string python = std::string(VIDINFER_TORCH_PYTHON).empty() ? "python3" : VIDINFER_TORCH_PYTHON;
    int rc = 0;
    const std::string out = test::sh(test::q(python) + " " + test::q(script) + " " + test::q(tmp) + " --device cuda", &rc);
    std::error_code ec;
    if (rc == 0) fs::rename(tmp, dir_, ec);
    fs::remove_all(tmp, ec);
    std::fprintf(stderr, "[ aoti     ] make_tiny_aoti.py exited %d\n", rc);
    if (rc == 3) skip_ = "no Python with torch 2.6 or newer (" + python + "): " + out;
    else if (rc != 0) failed_ = "make_tiny_aoti.py failed (" + std::to_string(rc) + "): " + out;
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(failed_.empty()) << failed_;
  }
  static std::string file(const std::string& name) { return dir_ + "/" + name; }

  // The reference's and the package's outputs for the first n rows of x, compared output by output.
  static void expect_same(Model& aoti, Model& ref, const torch::Tensor& x, int64_t n) {
    const auto got = aoti.forward(x.narrow(0, 0, n));
    const auto want = ref.forward(x.narrow(0, 0, n));
    ASSERT_TRUE(got.isTuple()) << "batch " << n;
    const auto g = got.toTupleRef().elements(), w = want.toTupleRef().elements();
    ASSERT_EQ(g.size(), w.size());
    for (size_t i = 0; i < g.size(); ++i) {
      const auto a = g[i].toTensor(), b = w[i].toTensor();
      ASSERT_EQ(a.sizes(), b.sizes()) << "batch " << n << ", output " << i;
      const double diff = (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
      const double tol = 1e-4 * std::max(1.0, b.abs().max().item<double>());
      std::printf("[ aoti     ] batch %lld, output %zu: max |package - TorchScript| %.3g\n", static_cast<long long>(n), i, diff);
      EXPECT_LE(diff, tol) << "batch " << n << ", output " << i;
    }
  }

  static torch::Tensor input() {
    torch::manual_seed(1);
    return torch::rand({8, 3, 32, 32}).to(torch::kCUDA);
  }

  static inline std::string skip_, failed_;
  static inline std::string dir_;
};

TEST_F(AotiModelTest, DynamicBatchGivesTheTorchScriptOutputs) {
  auto aoti = load_model(file("dynamic.pt2"), torch::Device(torch::kCUDA, 0), DType::Float32);
  TorchScriptModel ref(file("tiny.pt"), torch::Device(torch::kCUDA, 0), DType::Float32);
  const auto x = input();
  for (int64_t n : {8, 5, 1}) expect_same(*aoti, ref, x, n);
  // A host batch is moved to the GPU first, as the CPU decoder's batches are.
  expect_same(*aoti, ref, x.cpu(), 3);
}

TEST_F(AotiModelTest, StaticBatchPadsAPartialBatch) {
  auto aoti = load_model(file("static.pt2"), torch::Device(torch::kCUDA, 0), DType::Float32);
  TorchScriptModel ref(file("tiny.pt"), torch::Device(torch::kCUDA, 0), DType::Float32);
  const auto x = input();
  for (int64_t n : {4, 3, 1}) expect_same(*aoti, ref, x, n);
  EXPECT_EQ(error_of([&] { aoti->forward(x.narrow(0, 0, 5)); }),
            file("static.pt2") + ": model forward failed: a batch of 5 frames; the package takes at most 4");
}

TEST_F(AotiModelTest, RecordedAsACudaGraph) {
  auto aoti = load_model(file("static.pt2"), torch::Device(torch::kCUDA, 0), DType::Float32);
  TorchScriptModel ref(file("tiny.pt"), torch::Device(torch::kCUDA, 0), DType::Float32);
  std::string why;
  if (!aoti->capture_graphs({4, 3, 32, 32}, &why)) GTEST_SKIP() << "the package's run was not recorded: " << why;
  const auto x = input();
  for (int64_t n : {4, 3, 4}) expect_same(*aoti, ref, x, n);  // replayed, the partial one padded
  aoti->release_graphs();
  expect_same(*aoti, ref, x, 2);
}

TEST_F(AotiModelTest, RefusesAnotherDtypeOrDevice) {
  EXPECT_EQ(error_of([&] { load_model(file("dynamic.pt2"), torch::Device(torch::kCUDA, 0), DType::BFloat16); }),
            file("dynamic.pt2") + ": model does not run in bfloat16: it was compiled for float32; use --dtype float32, "
                                  "or export it again in that dtype");
  EXPECT_EQ(error_of([&] { load_model(file("dynamic.pt2"), torch::kCPU, DType::Float32); }),
            file("dynamic.pt2") + ": cannot load model: the package was compiled for CUDA GPUs, and the model is to run "
                                  "on the CPU (use --device cuda on a machine with a GPU, or export it again with "
                                  "--device cpu)");
}

}  // namespace
}  // namespace vidinfer
