// Model import: turns models of other runtimes into TorchScript files the pipeline loads.
#pragma once

#include <string>
#include <vector>

namespace vidinfer {

// Imports a TensorFlow.js graph model (model.json + the weight shards it names) into a TorchScript
// file at `out_pt`, cut at `outputs` (node names; empty: the graph's signature outputs). The module
// takes NCHW where the graph took NHWC and returns 4-D outputs as NCHW. `provenance` is stored in
// the module (attribute `provenance`). Throws vidinfer::Error naming the file and the cause,
// including every op the importer does not know.
void import_tfjs(const std::string& model_json, const std::string& out_pt, const std::vector<std::string>& outputs,
                 const std::string& provenance = "");

}  // namespace vidinfer
