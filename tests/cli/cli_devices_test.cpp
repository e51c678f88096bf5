// vidinfer run --devices: one engine per device, fed by one job source. On the CPU (CI) a list that
// names the CPU twice makes two engines, which must write what one engine writes, input by input
// and frame by frame (segments of one input included), name the device of each input, and count
// each engine's frames; bad lists are usage errors. (Two engines on one GPU: gpu_pipeline_test.)
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <torch/torch.h>

#include "cli_fixture.h"
#include "support.h"

namespace vidinfer {
namespace {

class CliDevices : public test::Cli {
 protected:
  // Each input's frame lines, in the order they were written, and its end-of-input record.
  struct PerInput {
    std::map<std::string, std::vector<nlohmann::json>> lines;
    std::map<std::string, nlohmann::json> records;
  };
  static PerInput per_input(const test::Result& r) {
    PerInput p;
    for (auto& j : r.all_lines()) {
      const std::string in = j["input"];
      if (j.contains("end_of_input")) p.records[in] = j;
      else p.lines[in].push_back(j);
    }
    return p;
  }
  std::vector<std::string> copies(size_t n) {
    std::vector<std::string> v;
    const std::vector<std::string> clips{test::media::h264_mp4(), test::media::counter("h264"), test::media::vp9_webm()};
    for (size_t i = 0; i < n; ++i) {
      v.push_back(dir.file("in-" + std::to_string(i) + std::filesystem::path(clips[i % clips.size()]).extension().string()));
      std::filesystem::copy_file(clips[i % clips.size()], v.back(), std::filesystem::copy_options::overwrite_existing);
    }
    return v;
  }
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += " " + test::q(x);
    return s;
  }
};

TEST_F(CliDevices, TwoEnginesWriteWhatOneWritesInputByInput) {
  const auto inputs = copies(5);
  const std::string args = model() + " --task classify --batch 4 -q" + join(inputs);
  auto one = vidinfer("run --device cpu " + args);
  ASSERT_EQ(one.rc, 0) << one.err;
  auto two = vidinfer("run --devices cpu,cpu --summary " + test::q(dir.file("s.json")) + " " + args);
  ASSERT_EQ(two.rc, 0) << two.err;
  const PerInput a = per_input(one), b = per_input(two);
  ASSERT_EQ(a.lines.size(), inputs.size());
  ASSERT_EQ(b.records.size(), inputs.size());
  int64_t frames = 0;
  for (const auto& in : inputs) {
    SCOPED_TRACE(in);
    ASSERT_EQ(a.lines.at(in).size(), b.lines.at(in).size());
    EXPECT_EQ(a.lines.at(in), b.lines.at(in)) << "the same frames, indices, pts and scores, in frame order";
    frames += static_cast<int64_t>(a.lines.at(in).size());
    EXPECT_FALSE(a.records.at(in).contains("device")) << "a one-device run names no device";
    EXPECT_EQ(b.records.at(in).value("device", ""), "cpu");
    auto rec = b.records.at(in);
    rec.erase("device");
    EXPECT_EQ(rec, a.records.at(in));
  }
  const auto s = nlohmann::json::parse(slurp(dir.file("s.json")));
  EXPECT_EQ(s["device"], "cpu,cpu");
  ASSERT_EQ(s["devices"].size(), 2u);
  EXPECT_EQ(s["devices"][0]["frames"].get<int64_t>() + s["devices"][1]["frames"].get<int64_t>(), frames)
      << "every frame ran on one engine or the other";
  EXPECT_EQ(s["frames"].get<int64_t>(), frames);
}

TEST_F(CliDevices, SegmentsOfOneInputOnTwoEnginesComeOutInFrameOrder) {
  const std::string clip = test::media::counter("h264");  // 50 frames, luma rising frame by frame
  const std::string args = model() + " --task classify --batch 2 --segments 5 -q " + test::q(clip);
  auto one = vidinfer("run --device cpu --segments 1 " + model() + " --task classify --batch 2 -q " + test::q(clip));
  ASSERT_EQ(one.rc, 0) << one.err;
  auto two = vidinfer("run --devices cpu,cpu " + args);
  ASSERT_EQ(two.rc, 0) << two.err;
  const auto a = one.lines(), b = two.lines();
  ASSERT_EQ(a.size(), 50u);
  ASSERT_EQ(b.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i]["frame"], static_cast<int64_t>(i));
    EXPECT_EQ(b[i], a[i]) << "frame " << i;
  }
  ASSERT_EQ(two.records().size(), 1u);
  EXPECT_EQ(two.records()[0]["status"], "ok");
  EXPECT_EQ(two.records()[0]["frames_decoded"], 50);
}

TEST_F(CliDevices, ABadInputFailsAloneOnTwoEngines) {
  auto inputs = copies(3);
  inputs.insert(inputs.begin() + 1, dir.file("missing.mp4"));
  auto r = vidinfer("run --devices cpu,cpu " + model() + " --task classify -q" + join(inputs));
  EXPECT_EQ(r.rc, 1) << r.err;
  const PerInput p = per_input(r);
  ASSERT_EQ(p.records.size(), 4u);
  EXPECT_EQ(p.records.at(inputs[1])["status"], "failed");
  for (size_t i : {0u, 2u, 3u}) {
    EXPECT_EQ(p.records.at(inputs[i])["status"], "ok") << inputs[i];
    EXPECT_FALSE(p.lines.at(inputs[i]).empty());
  }
}

TEST_F(CliDevices, BadListsAreUsageErrors) {
  const std::string clip = test::q(test::media::h264_mp4());
  const std::string m = model() + " --task classify -q ";
  for (const char* list : {"cpu,", ",cpu", "cpu,,cpu", "gpu", "auto,cpu", "cuda:x"}) {
    auto r = vidinfer(std::string("run --devices '") + list + "' " + m + clip);
    EXPECT_EQ(r.rc, 2) << list << ": " << r.err;
    EXPECT_NE(r.err.find("invalid device"), std::string::npos) << list << ": " << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  auto both = vidinfer("run --device cpu --devices cpu,cpu " + m + clip);
  EXPECT_EQ(both.rc, 2) << both.err;
  EXPECT_NE(both.err.find("--devices"), std::string::npos) << both.err;
}

TEST_F(CliDevices, DevicesThatAreNotPresentAreNamed) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU: the error is for machines without one";
  const std::string m = model() + " --task classify -q " + test::q(test::media::h264_mp4());
  auto all = vidinfer("run --devices all " + m);
  EXPECT_EQ(all.rc, 2) << all.err;
  EXPECT_NE(all.err.find("no CUDA GPU is visible"), std::string::npos) << all.err;
  auto mixed = vidinfer("run --devices cpu,cuda:0 " + m);
  EXPECT_EQ(mixed.rc, 2) << mixed.err;
  EXPECT_NE(mixed.err.find("cuda:0"), std::string::npos) << mixed.err;
}

}  // namespace
}  // namespace vidinfer
