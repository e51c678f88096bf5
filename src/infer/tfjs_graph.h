// The TF.js graph as the importer reads it (infer/tfjs_import.cpp), and its translation into a
// TorchScript module (infer/tfjs_emitter.cpp). The ops covered and the semantics kept: see
// infer/tfjs_import.h.
#pragma once

#include <torch/script.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vidinfer::tfjs {

using json = nlohmann::json;

// A node of modelTopology.node: its data inputs only (control inputs dropped).
struct Node {
  std::string name, op;
  std::vector<std::string> inputs;
  json attr;
};

// The TorchScript module computing `outputs` (node names, in this order; a tuple when more than one)
// from the graph's one input, with `weights` (by node name, TensorFlow's layout) as its buffers.
// Throws vidinfer::Error naming `path` on an op or attribute the importer does not cover.
// `source`, when given, receives the generated TorchScript.
torch::jit::Module emit_torchscript(const std::string& path, std::map<std::string, Node> nodes,
                                    std::map<std::string, torch::Tensor> weights,
                                    const std::vector<std::string>& outputs, std::string* source);

}  // namespace vidinfer::tfjs
