#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "infer/torchscript_model.h"
#include "support.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"

namespace vidinfer {
namespace {

using test::error_of;

TEST(Model, LoadsAndRunsATorchScriptModule) {
  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32);
  auto x = torch::zeros({2, 3, 8, 8});
  x[0][1].fill_(0.5);
  x[1][2].fill_(1.0);
  const auto out = m.forward(x).toTensor();
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_FLOAT_EQ(out[0][1].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(out[1][2].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(out[0][0].item<float>(), 0.0f);
}

TEST(Model, RunsInBfloat16) {
  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::BFloat16);
  const auto out = m.forward(torch::full({1, 3, 4, 4}, 0.25)).toTensor();
  EXPECT_FLOAT_EQ(out[0][0].item<float>(), 0.25f);
}

TEST(ModelErrors, MissingFile) {
  EXPECT_EQ(error_of([] { TorchScriptModel m("/nonexistent/m.pt", torch::kCPU, DType::Float32); }),
            "/nonexistent/m.pt: cannot load model: file not found");
}

TEST(ModelErrors, NotTorchScript) {
  test::TempDir dir;
  test::write_bytes(dir.file("m.pt"), {'n', 'o', 't', ' ', 'a', ' ', 'm', 'o', 'd', 'e', 'l'});
  const std::string msg = error_of([&] { TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32); });
  EXPECT_EQ(msg.rfind(dir.file("m.pt") + ": cannot load model: not a TorchScript model (", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(ModelErrors, ForwardFailureIsOneLine) {
  test::TempDir dir;
  test::make_channel_mean_classifier(dir.file("m.pt"));
  TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32);
  const std::string msg = error_of([&] { m.forward(torch::zeros({2, 3})); });  // mean over dims 2, 3 fails
  EXPECT_EQ(msg.rfind(dir.file("m.pt") + ": model forward failed: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(ModelErrors, ErrorRaisedInTorchScriptGivesItsOwnLine) {
  test::TempDir dir;
  test::make_oom_above_batch_model(dir.file("m.pt"), 1);
  TorchScriptModel m(dir.file("m.pt"), torch::kCPU, DType::Float32);
  EXPECT_NO_THROW(m.forward(torch::zeros({1, 3, 4, 4})));
  Error err("none");
  try {
    m.forward(torch::zeros({2, 3, 4, 4}));
  } catch (const Error& e) {
    err = e;
  }
  // Not TorchScript's "The following operation failed in the TorchScript interpreter." header.
  EXPECT_EQ(std::string(err.what()), dir.file("m.pt") + ": model forward failed: RuntimeError: AssertionError: CUDA out of memory. Tried "
                                                         "to allocate 2.00 GiB (simulated by the test model)");
  EXPECT_TRUE(is_out_of_memory(err));
  EXPECT_FALSE(is_out_of_memory(Error("model forward failed", "m.pt", "shape '[2, 3]' is invalid")));
}

// A CUDA error raised inside TorchScript ends with the driver's advice, below the exception line.
TEST(ModelErrors, CudaErrorInTorchScriptGivesTheExceptionLine) {
  const std::string text =
      "The following operation failed in the TorchScript interpreter.\n"
      "Traceback of TorchScript (most recent call last):\n"
      "  File \"code/__torch__.py\", line 9, in forward\n"
      "    m = torch.mean(torch.to(x, 6), [2, 3])\n"
      "    if bool(torch.any(torch.gt(m, 2.))):\n"
      "       ~~~~ <--- HERE\n"
      "RuntimeError: CUDA error: operation not permitted when stream is capturing\n"
      "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.\n"
      "For debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
      "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n\n";
  EXPECT_EQ(forward_error_cause(text), "RuntimeError: CUDA error: operation not permitted when stream is capturing");
  // Without an exception line: the last line that is not blank.
  EXPECT_EQ(forward_error_cause("The following operation failed in the TorchScript interpreter.\n"
                                "Traceback of TorchScript (most recent call last):\n  File x\nsomething odd\n  \n"),
            "something odd");
  EXPECT_EQ(forward_error_cause("shape '[2, 3]' is invalid\nException raised from ..."), "shape '[2, 3]' is invalid");
}

TEST(Device, AutoAndCpu) {
  EXPECT_TRUE(resolve_device(Device::parse("cpu")).is_cpu());
  EXPECT_EQ(resolve_device(Device::parse("auto")).is_cuda(), torch::cuda::is_available());
}

TEST(Device, CudaWithoutGpuFailsClearly) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(error_of([] { resolve_device(Device::parse("cuda")); }),
            "device 'cuda:0' is not available: no CUDA GPU is visible to this LibTorch (use --device cpu or auto)");
}

TEST(Device, UnknownName) {
  EXPECT_EQ(error_of([] { Device::parse("tpu"); }), "invalid device 'tpu': expected auto, cpu, cuda or cuda:N");
  EXPECT_EQ(error_of([] { Device::parse("cuda:x"); }), "invalid device 'cuda:x': expected auto, cpu, cuda or cuda:N");
  EXPECT_EQ(Device::parse("cuda:3"), Device::cuda(3));
  EXPECT_EQ(Device::parse("cuda:3").str(), "cuda:3");
  EXPECT_EQ(error_of([] { parse_decoder_choice("nvdec"); }), "invalid decoder 'nvdec': expected auto, cpu or gpu");
  EXPECT_EQ(parse_decoder_choice("gpu"), DecoderChoice::Gpu);
}

TEST(Sidecar, ParsesEveryKey) {
  test::TempDir dir;
  test::write_bytes(dir.file("labels.txt"), {'a', '\n', 'b', '\r', '\n'});
  const auto s = parse_model_sidecar(R"({
    "input_size": [320, 256], "resize": "letterbox", "letterbox_fill": 0, "mean": [0, 0, 0], "std": 1,
    "channels": "bgr", "dtype": "bfloat16", "batch": 4, "task": "detect", "labels": "labels.txt",
    "classify": {"activation": "none"},
    "detect": {"layout": "dense", "box_format": "cxcywh", "boxes_normalized": true,
               "score_activation": "sigmoid", "label_offset": 1}})",
                                     "m.pt.json", {}, dir.path());
  EXPECT_EQ(s.spec.width, 320);
  EXPECT_EQ(s.spec.height, 256);
  EXPECT_EQ(s.spec.resize, ResizeMode::Letterbox);
  EXPECT_EQ(s.spec.letterbox_fill, 0);
  EXPECT_EQ(s.spec.std[2], 1.0f);
  EXPECT_EQ(s.spec.channels, ChannelOrder::BGR);
  EXPECT_EQ(s.spec.dtype, DType::BFloat16);
  EXPECT_EQ(s.spec.batch, 4);
  EXPECT_EQ(s.task, Task::Detect);
  EXPECT_EQ(s.labels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.spec.class_activation, Activation::None);
  EXPECT_EQ(s.spec.detect_layout, DetectLayout::Dense);
  EXPECT_EQ(s.spec.box_format, BoxFormat::CXCYWH);
  EXPECT_TRUE(s.spec.boxes_normalized);
  EXPECT_EQ(s.spec.score_activation, Activation::Sigmoid);
  EXPECT_EQ(s.spec.label_offset, 1);
}

TEST(Sidecar, DefaultsAreImageNetStyle) {
  const auto s = parse_model_sidecar("{}", "m.pt.json");
  EXPECT_EQ(s.spec.width, 224);
  EXPECT_EQ(s.spec.resize, ResizeMode::Stretch);
  EXPECT_FLOAT_EQ(s.spec.mean[0], 0.485f);
  EXPECT_FLOAT_EQ(s.spec.std[2], 0.225f);
  EXPECT_EQ(s.spec.channels, ChannelOrder::RGB);
  EXPECT_EQ(s.spec.dtype, DType::Float32);
  EXPECT_FALSE(s.task.has_value());
}

TEST(Sidecar, BadInputsNameTheFileAndTheProblem) {
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"resize": "squash"})", "m.pt.json"); }),
            "m.pt.json: invalid model sidecar: unknown resize mode 'squash': expected one of: stretch, letterbox, "
            "center-crop, centre-crop");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"colour": 1})", "m.pt.json"); }),
            "m.pt.json: invalid model sidecar: unknown key 'colour'");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"detect": {"layuot": "dense"}})", "m.pt.json"); }),
            "m.pt.json: invalid model sidecar: unknown key 'detect.layuot'");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"letterbox_fill": 300})", "m.pt.json"); }),
            "m.pt.json: invalid model sidecar: 'letterbox_fill' out of range (0..255)");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"std": [1, 0, 1]})", "m.pt.json"); }),
            "m.pt.json: invalid model sidecar: 'std' must not be 0");
  EXPECT_EQ(error_of([] { parse_model_sidecar(R"({"input_size": [0, 5]})", "m.pt.json"); }),
            "m.pt.json: invalid model sidecar: 'input_size' out of range (1..8192)");
  const std::string msg = error_of([] { parse_model_sidecar("{not json", "m.pt.json"); });
  EXPECT_EQ(msg.rfind("m.pt.json: invalid model sidecar: [json.exception.parse_error", 0), 0u) << msg;
}

TEST(Sidecar, LoadedFromNextToTheModel) {
  test::TempDir dir;
  const std::string text = R"({"input_size": 64, "labels": ["x", "y"]})";
  test::write_bytes(dir.file("m.pt.json"), std::vector<uint8_t>(text.begin(), text.end()));
  const auto s = load_model_sidecar(dir.file("m.pt"));
  EXPECT_EQ(s.spec.width, 64);
  EXPECT_EQ(s.labels.size(), 2u);
  EXPECT_EQ(load_model_sidecar(dir.file("other.pt")).spec.width, 224);
}

}  // namespace
}  // namespace vidinfer
