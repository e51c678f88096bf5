// Model formats (infer/model_format.h) and what an AOTInductor package says it takes, on any build:
// TorchScript is still loaded as TorchScript (whatever its name), a package is told by its entries
// (here fake ones, zips written by the test), a zip that is neither is refused by name, and a batch
// or dtype the package (its metadata or sidecar) was not compiled for is refused before it loads.
// Real packages are compiled and run in aoti_model_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>

#include "infer/model.h"
#include "infer/model_format.h"
#include "infer/torchscript_model.h"
#include "support.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {
namespace {

using test::error_of;

void write_text(const std::string& path, const std::string& text) {
  test::write_bytes(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::string version_error(const std::string& path) {
  return path + ": cannot load model: an AOTInductor package (.pt2) needs LibTorch 2.6 or newer with AOTInductor; "
                "this build's LibTorch is " + torch_version();
}

TEST(ModelFormat, TorchScriptIsStillTorchScriptWhateverItsName) {
  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  EXPECT_EQ(model_format(dir.file("m.pt")), ModelFormat::TorchScript);
  std::filesystem::copy_file(dir.file("m.pt"), dir.file("m.pt2"));
  EXPECT_EQ(model_format(dir.file("m.pt2")), ModelFormat::TorchScript);  // its entries decide, not its name
  for (const char* name : {"m.pt", "m.pt2"}) {
    auto m = load_model(dir.file(name), torch::kCPU, DType::Float32);
    EXPECT_NE(dynamic_cast<TorchScriptModel*>(m.get()), nullptr) << name;
    EXPECT_EQ(m->forward(torch::full({1, 3, 4, 4}, 0.5)).toTensor().sizes(), (std::vector<int64_t>{1, 3})) << name;
  }
  EXPECT_FALSE(is_aoti_package(dir.file("m.pt")));
  // The bundled model, written by LibTorch 1.13's serializer (entries aligned with extra fields).
  EXPECT_EQ(model_format(std::string(VIDINFER_SOURCE_DIR) + "/models/centernet/centernet.pt"), ModelFormat::TorchScript);
}

TEST(ModelFormat, APackageIsToldByItsEntriesAndNeedsAoti) {
  test::TempDir dir;
  const std::string meta = R"({"AOTI_DEVICE_KEY": "cpu", "vidinfer.dtype": "float32", "vidinfer.batch_range": "[1, 4]"})";
  test::write_fake_aoti_package(dir.file("m.pt2"), meta);
  test::write_fake_aoti_package(dir.file("m.zip"), meta);
  EXPECT_EQ(model_format(dir.file("m.pt2")), ModelFormat::AotiPackage);
  EXPECT_EQ(model_format(dir.file("m.zip")), ModelFormat::AotiPackage);
  EXPECT_TRUE(is_aoti_package(dir.file("m.zip")));
  const auto md = aoti_package_metadata(dir.file("m.pt2"));
  EXPECT_EQ(md.at("AOTI_DEVICE_KEY"), "cpu");
  EXPECT_EQ(md.at("vidinfer.batch_range"), "[1, 4]");
  for (const char* name : {"m.pt2", "m.zip"}) {
    const std::string msg = error_of([&] { load_model(dir.file(name), torch::kCPU, DType::Float32); });
    if (!aoti_supported()) {
      EXPECT_EQ(msg, version_error(dir.file(name)));
    } else {  // the loader tries it, and fails on the fake library
      EXPECT_EQ(msg.rfind(dir.file(name) + ": cannot load model: ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
  }
}

TEST(ModelFormat, AZipThatIsNeitherOrAPt2ThatIsNoZipIsRefused) {
  test::TempDir dir;
  test::write_zip(dir.file("state.pt"), {{"archive/data.pkl", "x"}, {"archive/data/0", "x"}, {"archive/version", "3"}});
  EXPECT_EQ(error_of([&] { load_model(dir.file("state.pt"), torch::kCPU, DType::Float32); }),
            dir.file("state.pt") +
                ": cannot load model: a zip archive that is neither TorchScript (no code/ entries) nor an AOTInductor "
                "package (no data/aotinductor/ entries); a torch.save() file or a torch.export program must first be "
                "compiled (scripts/export-model, or torch._inductor.aoti_compile_and_package)");
  write_text(dir.file("x.pt2"), "not a zip");
  EXPECT_EQ(error_of([&] { load_model(dir.file("x.pt2"), torch::kCPU, DType::Float32); }),
            dir.file("x.pt2") + ": cannot load model: not an AOTInductor package (.pt2): not a zip archive");
  EXPECT_EQ(error_of([&] { model_format(dir.file("none.pt2")); }), dir.file("none.pt2") + ": cannot load model: file not found");
  // Not a zip and not .pt2: the TorchScript loader's error, as before.
  write_text(dir.file("x.pt"), "not a zip");
  EXPECT_EQ(model_format(dir.file("x.pt")), ModelFormat::TorchScript);
}

TEST(ModelFormat, SidecarBatchRange) {
  const auto s = parse_model_sidecar(R"({"batch_range": [2, 16], "batch": 4})", "m.pt2.json");
  EXPECT_EQ(s.spec.min_batch, 2);
  EXPECT_EQ(s.spec.max_batch, 16);
  EXPECT_FALSE(s.names_dtype);
  EXPECT_TRUE(parse_model_sidecar(R"({"dtype": "bf16"})", "m.pt2.json").names_dtype);
  EXPECT_EQ(parse_model_sidecar("{}", "m.pt.json").spec.max_batch, 0);
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"batch_range": 4})", "m.pt2.json"); }),
            "m.pt2.json: invalid model sidecar: 'batch_range' must be [min, max]");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"batch_range": [8, 4]})", "m.pt2.json"); }),
            "m.pt2.json: invalid model sidecar: 'batch_range' out of range (1 <= min <= max <= 4096)");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"batch_range": [0, 4]})", "m.pt2.json"); }),
            "m.pt2.json: invalid model sidecar: 'batch_range' out of range (1 <= min <= max <= 4096)");
}

// The package's metadata (scripts/export-model's vidinfer.* keys) comes first, the sidecar over it;
// what it was compiled for (dtype, batch range) is the metadata's where it says.
TEST(ModelFormat, PackageMetadataUnderTheSidecar) {
  test::TempDir dir;
  test::write_fake_aoti_package(dir.file("m.pt2"), R"({"AOTI_DEVICE_KEY": "cuda", "vidinfer.dtype": "bfloat16",
      "vidinfer.batch_range": "[1, 32]", "vidinfer.batch": "16", "vidinfer.input_size": "[640, 480]"})");
  auto s = load_model_sidecar(dir.file("m.pt2")).spec;
  EXPECT_EQ(s.width, 640);
  EXPECT_EQ(s.height, 480);
  EXPECT_EQ(s.dtype, DType::BFloat16);
  EXPECT_EQ(s.batch, 16);
  EXPECT_EQ(s.min_batch, 1);
  EXPECT_EQ(s.max_batch, 32);
  ASSERT_TRUE(s.compiled_dtype.has_value());
  EXPECT_EQ(*s.compiled_dtype, DType::BFloat16);
  write_text(dir.file("m.pt2.json"), R"({"input_size": 320, "batch": 8, "batch_range": [4, 4], "dtype": "float16"})");
  s = load_model_sidecar(dir.file("m.pt2")).spec;
  EXPECT_EQ(s.width, 320);
  EXPECT_EQ(s.batch, 8);
  EXPECT_EQ(s.max_batch, 32);                         // the metadata's range holds
  EXPECT_EQ(*s.compiled_dtype, DType::BFloat16);      // and its dtype: the sidecar's float16 is refused
  EXPECT_EQ(error_of([&] { check_model_spec(s, dir.file("m.pt2")); }),
            dir.file("m.pt2") + ": model does not run in float16: it was compiled for bfloat16; use --dtype bfloat16, "
                                "or export it again in that dtype");

  // No vidinfer metadata: the sidecar says it.
  test::write_fake_aoti_package(dir.file("p.pt2"), R"({"AOTI_DEVICE_KEY": "cuda"})");
  write_text(dir.file("p.pt2.json"), R"({"dtype": "bfloat16", "batch_range": [4, 4], "batch": 4})");
  s = load_model_sidecar(dir.file("p.pt2")).spec;
  EXPECT_EQ(*s.compiled_dtype, DType::BFloat16);
  EXPECT_EQ(s.min_batch, 4);
  EXPECT_EQ(s.max_batch, 4);
  // A bad metadata value names the package.
  test::write_fake_aoti_package(dir.file("bad.pt2"), R"({"vidinfer.batch_range": "[1,"})");
  EXPECT_EQ(error_of([&] { load_model_sidecar(dir.file("bad.pt2")); })
                .rfind(dir.file("bad.pt2") + " (package metadata): invalid model sidecar: 'vidinfer.batch_range': ", 0),
            0u);
  // A TorchScript model's sidecar dtype stays a default (TorchScript converts to any dtype).
  test::make_channel_mean_classifier(dir.file("t.pt"));
  write_text(dir.file("t.pt.json"), R"({"dtype": "bfloat16"})");
  EXPECT_FALSE(load_model_sidecar(dir.file("t.pt")).spec.compiled_dtype.has_value());
}

TEST(ModelFormat, BatchOrDtypeTheModelCannotTakeIsRefusedBeforeItLoads) {
  test::TempDir dir;
  test::write_fake_aoti_package(dir.file("m.pt2"), R"({"AOTI_DEVICE_KEY": "cpu"})");
  write_text(dir.file("m.pt2.json"), R"({"dtype": "bfloat16", "batch_range": [1, 4], "batch": 4})");
  RunOptions o = test::channel_mean_options(dir.file("m.pt2"), 8, 4);
  o.spec = load_model_sidecar(o.model_path).spec;
  o.device = Device::cpu();
  o.spec.batch = 8;
  EXPECT_EQ(error_of([&] { Pipeline p(o); }),
            dir.file("m.pt2") + ": model does not take batches of 8 frames: it takes batches of 1 to 4 frames "
                                "(batch_range); give a batch in that range (--batch)");
  o.spec.batch = 4;
  o.spec.dtype = DType::Float16;
  EXPECT_EQ(error_of([&] { Pipeline p(o); }),
            dir.file("m.pt2") + ": model does not run in float16: it was compiled for bfloat16; use --dtype bfloat16, "
                                "or export it again in that dtype");
  // What the package takes: it gets as far as loading (which fails here on the fake library, or
  // on a build without AOTInductor for that).
  o.spec.dtype = DType::BFloat16;
  const std::string msg = error_of([&] { Pipeline p(o); });
  if (!aoti_supported()) EXPECT_EQ(msg, version_error(dir.file("m.pt2")));
  else EXPECT_EQ(msg.rfind(dir.file("m.pt2") + ": cannot load model: ", 0), 0u) << msg;

  // A batch range in a TorchScript model's sidecar holds too; a static one reads "exactly".
  test::make_channel_mean_classifier(dir.file("t.pt"));
  write_text(dir.file("t.pt.json"), R"({"batch_range": [2, 2]})");
  o = test::channel_mean_options(dir.file("t.pt"), 8, 3);
  o.spec.min_batch = load_model_sidecar(o.model_path).spec.min_batch;
  o.spec.max_batch = load_model_sidecar(o.model_path).spec.max_batch;
  o.device = Device::cpu();
  EXPECT_EQ(error_of([&] { Pipeline p(o); }),
            dir.file("t.pt") + ": model does not take batches of 3 frames: it takes batches of exactly 2 frames "
                               "(batch_range); give a batch in that range (--batch)");
}

}  // namespace
}  // namespace vidinfer
