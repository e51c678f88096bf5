// Importer for TensorFlow.js graph models (model.json + weight shards) into TorchScript.
//
// Why by hand: no Debian package converts TF.js (or TensorFlow) graphs to TorchScript, and the
// model hubs that host converted models cannot be reached here. The importer covers the op set of
// MobileNet-style CNNs (the bundled CenterNet detector and its kin):
//   Placeholder, Const, Conv2D, _FusedConv2D, DepthwiseConv2dNative, FusedDepthwiseConv2dNative
//   (fused BiasAdd / FusedBatchNorm + Relu / Relu6 / LeakyRelu / Sigmoid / Elu / Prelu), Add, AddV2,
//   BiasAdd, Sub, Mul, RealDiv, Maximum, Minimum, Relu, Relu6, Sigmoid, Tanh, Elu, LeakyRelu, Identity,
//   Mean, MaxPool, AvgPool, ResizeBilinear, ResizeNearestNeighbor, ConcatV2.
// Any other op on the path to the requested outputs is refused with its name and node.
//
// Semantics kept exactly as TensorFlow's: SAME padding (asymmetric, extra pixel after), resize with
// align_corners / half_pixel_centers as TF.js computes them, weights dequantized as TF.js does
// (float16, uint8/uint16 with scale and min). Feature maps are converted from NHWC to NCHW: the
// module takes [N,C,H,W] where the graph took [N,H,W,C], and returns 4-D outputs as [N,C,H,W].
#pragma once

#include <torch/script.h>

#include <string>
#include <vector>

namespace vidinfer {

struct TfjsImportOptions {
  // Nodes to cut the graph at, returned in this order (a tuple when more than one). Empty: the
  // graph's signature outputs.
  std::vector<std::string> outputs;
};

// Reads `model_json` and the shards its weightsManifest names (relative to it). Throws
// vidinfer::Error naming the file: unreadable files, malformed JSON, shards too short, unknown ops.
// `source`, when given, receives the generated TorchScript (for reading and debugging the import).
torch::jit::Module import_tfjs_graph(const std::string& model_json, const TfjsImportOptions& options = {},
                                     std::string* source = nullptr);

}  // namespace vidinfer
