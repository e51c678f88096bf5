// The TF.js importer against the original runtime: the bundled CenterNet detector imported from its
// TF.js files must reproduce TF.js's own outputs (stored by TF.js 4.22 on three photos in
// tests/data/centernet), and the importer must refuse what it cannot import, clearly.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>

#include "infer/tfjs_import.h"
#include "postprocess/heads.h"
#include "support.h"
#include "vidinfer/import.h"

namespace vidinfer {
namespace {

const std::string kTfjs = std::string(VIDINFER_SOURCE_DIR) + "/models/centernet/tfjs/centernet.json";
const std::string kRef = std::string(VIDINFER_SOURCE_DIR) + "/tests/data/centernet/";

torch::Tensor read_f32(const std::string& path, std::vector<int64_t> shape) {
  const auto bytes = test::read_bytes(path);
  auto t = torch::empty(shape, torch::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * 4) << path;
  std::memcpy(t.data_ptr(), bytes.data(), std::min<size_t>(bytes.size(), t.numel() * 4));
  return t;
}

// 512x512 RGB bytes -> [1,3,512,512] float 0..255 (the graph's NHWC input, as NCHW).
torch::Tensor read_rgb(const std::string& path) {
  const auto bytes = test::read_bytes(path);
  EXPECT_EQ(bytes.size(), 512u * 512 * 3);
  auto t = torch::from_blob(const_cast<uint8_t*>(bytes.data()), {512, 512, 3}, torch::kUInt8).clone();
  return t.to(torch::kFloat).permute({2, 0, 1}).unsqueeze(0).contiguous();
}
torch::Tensor read_input(const std::string& name) { return read_rgb(kRef + name + ".512x512.rgb24"); }

class CenterNetImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    TfjsImportOptions o;
    o.outputs = {"tower_0/keypoints", "tower_0/wh"};
    module_ = new torch::jit::Module(import_tfjs_graph(kTfjs, o));
  }
  static void TearDownTestSuite() {
    delete module_;
    module_ = nullptr;
  }
  static std::pair<torch::Tensor, torch::Tensor> run(const std::string& name) {
    c10::InferenceMode guard;
    auto out = module_->forward({read_input(name)}).toTuple();
    // NCHW -> NHWC, as TF.js stores them.
    return {out->elements()[0].toTensor().permute({0, 2, 3, 1}).squeeze(0).contiguous(),
            out->elements()[1].toTensor().permute({0, 2, 3, 1}).squeeze(0).contiguous()};
  }
  static torch::jit::Module* module_;
};
torch::jit::Module* CenterNetImport::module_ = nullptr;

TEST_F(CenterNetImport, HeatmapWithin1e4AndBoxMapWithinFloat32Rounding) {
  for (const std::string name : {"dog", "horses", "person"}) {
    auto [hm, wh] = run(name);
    ASSERT_EQ(hm.sizes(), (std::vector<int64_t>{128, 128, 80})) << name;
    ASSERT_EQ(wh.sizes(), (std::vector<int64_t>{128, 128, 4})) << name;
    // The box map holds pixel distances up to ~270 (the graph scales its last conv by 16), where one
    // float32 step is 1.5e-5..3e-5. TF.js's own float32 sums are off from the exact result by up to
    // ~1.5e-3 there: the same import evaluated in float64 differs from TF.js by that much (checked
    // below on dog). So the box map bound is 1e-4 on the mean and 5e-3 on the max abs difference;
    // the detections built from it agree within 0.01 px (next test).
    const auto ref_wh = read_f32(kRef + name + ".wh.f32", {128, 128, 4});
    const auto d = (wh - ref_wh).abs();
    std::printf("%s: box map max |diff| %.3g, mean |diff| %.3g (values up to %.1f)\n", name.c_str(),
                d.max().item<double>(), d.mean().item<double>(), ref_wh.abs().max().item<double>());
    EXPECT_LE(d.max().item<double>(), 5e-3) << name;
    EXPECT_LE(d.mean().item<double>(), 1e-4) << name;
    if (name == "dog") {
      const auto ref_hm = read_f32(kRef + "dog.keypoints.f32", {128, 128, 80});
      const double hm_diff = (hm - ref_hm).abs().max().item<double>();
      std::printf("dog: heatmap max |diff| %.3g\n", hm_diff);
      EXPECT_LE(hm_diff, 1e-4);

      // The same module in float64: as far from TF.js as float32 is (TF.js's rounding, not ours).
      auto m64 = module_->clone();
      m64.to(torch::kDouble);
      c10::InferenceMode guard;
      auto wh64 = m64.forward({read_input(name).to(torch::kDouble)}).toTuple()->elements()[1].toTensor();
      wh64 = wh64.permute({0, 2, 3, 1}).squeeze(0);
      const double d64 = (wh64 - ref_wh.to(torch::kDouble)).abs().max().item<double>();
      std::printf("dog: box map in float64, max |diff| from TF.js %.3g\n", d64);
      EXPECT_GT(d64, 1e-4);
      EXPECT_LE(d64, 5e-3);
    }
  }
}

// The graph's own decoding (tower_0/detections) against ours (the centernet head) on our maps.
TEST_F(CenterNetImport, SameDetectionsAsTfjsAboveScore03) {
  for (const std::string name : {"dog", "horses", "person"}) {
    c10::InferenceMode guard;
    auto out = module_->forward({read_input(name)});
    Geometry g;
    g.src_w = g.dst_w = g.scaled_w = 512;
    g.src_h = g.dst_h = g.scaled_h = 512;
    DetectParams p;
    p.layout = DetectLayout::CenterNet;
    p.score_threshold = 0.3f;
    const auto ours = detect_head(out, {g}, p, {}).at(0);
    const auto ref = read_f32(kRef + name + ".detections.f32", {100, 6});
    std::vector<std::array<float, 6>> want;
    for (int i = 0; i < 100; ++i)
      if (ref[i][4].item<float>() >= 0.3f) {
        std::array<float, 6> r;
        for (int k = 0; k < 6; ++k) r[k] = ref[i][k].item<float>();
        for (int k = 0; k < 4; ++k) r[k] = std::clamp(r[k], 0.f, 512.f);  // our boxes are clipped to the frame
        want.push_back(r);
      }
    ASSERT_FALSE(want.empty()) << name;
    ASSERT_EQ(ours.size(), want.size()) << name;
    for (const auto& w : want) {  // each reference detection has its twin (same class, box within 0.01 px)
      const bool found = std::any_of(ours.begin(), ours.end(), [&](const Detection& d) {
        return d.class_id == static_cast<int>(w[5]) && std::abs(d.score - w[4]) < 1e-4 && std::abs(d.x1 - w[0]) < 0.01 &&
               std::abs(d.y1 - w[1]) < 0.01 && std::abs(d.x2 - w[2]) < 0.01 && std::abs(d.y2 - w[3]) < 0.01;
      });
      EXPECT_TRUE(found) << name << ": class " << w[5] << " score " << w[4] << " at " << w[0] << "," << w[1];
    }
  }
}

// TF.js itself (where node and @tensorflow/tfjs are installed: scripts/install-tfjs) on an input the
// stored references do not have: a frame of the sample video (people and kites on a beach).
TEST_F(CenterNetImport, MatchesTfjsItselfOnANewInput) {
  const std::string modules = std::string(VIDINFER_TFJS_DIR) + "/node_modules";
  int rc = 0;
  test::sh("command -v node", &rc);
  if (rc != 0) GTEST_SKIP() << "node is not installed";
  if (test::read_bytes(modules + "/@tensorflow/tfjs/package.json").empty())
    GTEST_SKIP() << "@tensorflow/tfjs is not installed in " << modules << " (scripts/install-tfjs)";
  test::TempDir dir;
  const std::string in = dir.file("kites.rgb");
  test::sh("ffmpeg -v error -y -i " + test::q(std::string(VIDINFER_SOURCE_DIR) + "/data/sample.mp4") +
               " -vf 'select=eq(n\\,200),scale=512:512:flags=bilinear' -frames:v 1 -f rawvideo -pix_fmt rgb24 " +
               test::q(in),
           &rc);
  ASSERT_EQ(rc, 0);
  const std::string log = test::sh("NODE_PATH=" + test::q(modules) + " node " +
                                       test::q(std::string(VIDINFER_SOURCE_DIR) + "/tests/infer/tfjs_reference.js") +
                                       " " + test::q(kTfjs) + " " + test::q(in) + " 512 512 " + test::q(dir.file("out")) +
                                       " tower_0/keypoints tower_0/wh",
                                   &rc);
  ASSERT_EQ(rc, 0) << log;
  c10::InferenceMode guard;
  auto out = module_->forward({read_rgb(in)}).toTuple();
  auto hm = out->elements()[0].toTensor().permute({0, 2, 3, 1}).squeeze(0);
  auto wh = out->elements()[1].toTensor().permute({0, 2, 3, 1}).squeeze(0);
  const auto ref_hm = read_f32(dir.file("out.0.f32"), {128, 128, 80});
  const auto ref_wh = read_f32(dir.file("out.1.f32"), {128, 128, 4});
  const double hm_max = (hm - ref_hm).abs().max().item<double>();
  const auto d = (wh - ref_wh).abs();
  std::printf("new input vs TF.js: heatmap max |diff| %.3g; box map max %.3g, mean %.3g\n", hm_max,
              d.max().item<double>(), d.mean().item<double>());
  EXPECT_GT(ref_hm.max().item<double>(), 0.3) << "the frame has objects the model finds";
  EXPECT_LE(hm_max, 1e-4);
  EXPECT_LE(d.max().item<double>(), 5e-3);
  EXPECT_LE(d.mean().item<double>(), 1e-4);
}

// The committed model (models/centernet/centernet.pt) is what the importer makes from the committed
// TF.js files: same outputs.
TEST_F(CenterNetImport, CommittedModelIsTheImport) {
  auto committed = torch::jit::load(std::string(VIDINFER_SOURCE_DIR) + "/models/centernet/centernet.pt");
  c10::InferenceMode guard;
  const auto x = read_input("person");
  auto a = module_->forward({x}).toTuple(), b = committed.forward({x}).toTuple();
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(torch::equal(a->elements()[i].toTensor(), b->elements()[i].toTensor())) << "output " << i;
  EXPECT_NE(committed.attr("provenance").toStringRef().find("@vladmandic/human@3.3.6"), std::string::npos);
}

// --- Small graphs written here, with expected values computed independently ---

struct Graph {
  nlohmann::json nodes = nlohmann::json::array();
  nlohmann::json weights = nlohmann::json::array();
  std::vector<uint8_t> bin;
  static std::string b64(const std::string& s) {  // tiny encoder for attribute strings
    static const char* c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -6;
    for (unsigned char ch : s) {
      val = (val << 8) + ch;
      bits += 8;
      while (bits >= 0) {
        out.push_back(c[(val >> bits) & 0x3F]);
        bits -= 6;
      }
    }
    if (bits > -6) out.push_back(c[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return out;
  }
  void input(const std::string& name, std::vector<int> shape) {
    nlohmann::json dims = nlohmann::json::array();
    for (int d : shape) dims.push_back({{"size", std::to_string(d)}});
    nodes.push_back({{"name", name}, {"op", "Placeholder"}, {"attr", {{"shape", {{"shape", {{"dim", dims}}}}}}}});
  }
  void constant(const std::string& name, std::vector<int> shape, const std::vector<float>& v, bool int32 = false) {
    nodes.push_back({{"name", name}, {"op", "Const"}, {"attr", nlohmann::json::object()}});
    weights.push_back({{"name", name}, {"shape", shape}, {"dtype", int32 ? "int32" : "float32"}});
    for (float f : v) {
      uint8_t b[4];
      if (int32) {
        const int32_t i = static_cast<int32_t>(f);
        std::memcpy(b, &i, 4);
      } else {
        std::memcpy(b, &f, 4);
      }
      bin.insert(bin.end(), b, b + 4);
    }
  }
  void op(const std::string& name, const std::string& op, std::vector<std::string> inputs, nlohmann::json attr = {}) {
    nodes.push_back({{"name", name}, {"op", op}, {"input", inputs}, {"attr", attr.is_null() ? nlohmann::json::object() : attr}});
  }
  std::string write(const test::TempDir& dir) const {
    nlohmann::json j = {{"format", "graph-model"},
                        {"modelTopology", {{"node", nodes}}},
                        {"weightsManifest", {{{"paths", {"g.bin"}}, {"weights", weights}}}}};
    std::ofstream(dir.file("g.json")) << j.dump();
    test::write_bytes(dir.file("g.bin"), bin);
    return dir.file("g.json");
  }
};

nlohmann::json ints(std::vector<int> v) {
  nlohmann::json l = nlohmann::json::array();
  for (int i : v) l.push_back(std::to_string(i));
  return {{"list", {{"i", l}}}};
}

// Stride-2 SAME convolution on even and odd inputs: TensorFlow pads the odd pixel after.
TEST(TfjsImport, StridedSamePaddingAsTensorFlow) {
  for (int n : {6, 7}) {
    test::TempDir dir;
    Graph g;
    g.input("x", {1, n, n, 1});
    g.constant("w", {3, 3, 1, 1}, std::vector<float>(9, 1.f));
    g.op("y", "Conv2D", {"x", "w"}, {{"strides", ints({1, 2, 2, 1})}, {"padding", {{"s", Graph::b64("SAME")}}}});
    TfjsImportOptions o;
    o.outputs = {"y"};
    auto m = import_tfjs_graph(g.write(dir), o);
    auto x = torch::arange(n * n, torch::kFloat).reshape({1, 1, n, n});
    auto y = m.forward({x}).toTensor();
    const int out = (n + 1) / 2;
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, out, out})) << n;
    const int pad_before = ((out - 1) * 2 + 3 - n) / 2;
    for (int i = 0; i < out; ++i)
      for (int j = 0; j < out; ++j) {
        float want = 0;
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) {
            const int r = i * 2 - pad_before + a, c = j * 2 - pad_before + b;
            if (r >= 0 && r < n && c >= 0 && c < n) want += static_cast<float>(r * n + c);
          }
        EXPECT_EQ(y[0][0][i][j].item<float>(), want) << "n=" << n << " at " << i << "," << j;
      }
  }
}

// ResizeBilinear without align_corners / half_pixel_centers (TF's legacy mapping src = dst * in/out),
// on a 2x3 map to 4x5 (a ratio that is not a power of two).
TEST(TfjsImport, ResizeBilinearLegacyMapping) {
  test::TempDir dir;
  Graph g;
  g.input("x", {1, 2, 3, 1});
  g.constant("size", {2}, {4, 5}, true);
  g.op("y", "ResizeBilinear", {"x", "size"}, {{"align_corners", {{"b", false}}}, {"half_pixel_centers", {{"b", false}}}});
  TfjsImportOptions o;
  o.outputs = {"y"};
  auto m = import_tfjs_graph(g.write(dir), o);
  const float in[2][3] = {{1, 5, 2}, {7, 3, 11}};
  auto x = torch::from_blob(const_cast<float*>(&in[0][0]), {1, 1, 2, 3}).clone();
  auto y = m.forward({x}).toTensor();
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, 4, 5}));
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 5; ++c) {
      const double sy = r * 2.0 / 4, sx = c * 3.0 / 5;
      const int y0 = static_cast<int>(std::floor(sy)), x0 = static_cast<int>(std::floor(sx));
      const int y1 = std::min(y0 + 1, 1), x1 = std::min(x0 + 1, 2);
      const double fy = sy - y0, fx = sx - x0;
      const double top = in[y0][x0] + (in[y0][x1] - in[y0][x0]) * fx;
      const double bot = in[y1][x0] + (in[y1][x1] - in[y1][x0]) * fx;
      EXPECT_NEAR(y[0][0][r][c].item<float>(), top + (bot - top) * fy, 1e-5) << r << "," << c;
    }
}

TEST(TfjsImport, RefusesUnknownOpsAndBrokenFilesClearly) {
  test::TempDir dir;
  Graph g;
  g.input("x", {1, 4, 4, 1});
  g.op("y", "Softplus", {"x"});
  TfjsImportOptions o;
  o.outputs = {"y"};
  const auto path = g.write(dir);
  EXPECT_EQ(test::error_of([&] { import_tfjs_graph(path, o); }),
            path + ": cannot import TF.js model: node 'y' (Softplus): op 'Softplus' is not supported by the importer");
  o.outputs = {"nope"};
  EXPECT_EQ(test::error_of([&] { import_tfjs_graph(path, o); }),
            path + ": cannot import TF.js model: no node named 'nope' to output");

  Graph c;  // a weight shard shorter than the manifest says
  c.input("x", {1, 4, 4, 1});
  c.constant("w", {3, 3, 1, 1}, std::vector<float>(9, 1.f));
  c.op("y", "Conv2D", {"x", "w"}, {{"strides", ints({1, 1, 1, 1})}, {"padding", {{"s", Graph::b64("SAME")}}}});
  const auto cpath = c.write(dir);
  auto bytes = test::read_bytes(dir.file("g.bin"));
  bytes.resize(20);
  test::write_bytes(dir.file("g.bin"), bytes);
  o.outputs = {"y"};
  EXPECT_EQ(test::error_of([&] { import_tfjs_graph(cpath, o); }),
            cpath + ": cannot import TF.js model: weight shards end early: 'w' needs bytes 0..36 of 20");

  test::write_bytes(dir.file("bad.json"), {'{', 'x'});
  EXPECT_NE(test::error_of([&] { import_tfjs_graph(dir.file("bad.json"), o); })
                .find(dir.file("bad.json") + ": cannot import TF.js model: not valid JSON"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { import_tfjs_graph(dir.file("missing.json"), o); })
                .find(dir.file("missing.json") + ": cannot read TF.js model"),
            std::string::npos);
}

}  // namespace
}  // namespace vidinfer
