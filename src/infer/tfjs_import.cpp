// The TF.js importer's reading of a graph model (infer/tfjs_import.h): model.json's nodes and
// outputs, and the weight shards its manifest names, dequantized as TF.js does; the translation into
// TorchScript is in infer/tfjs_emitter.cpp.
#include "infer/tfjs_import.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "infer/tfjs_graph.h"
#include "vidinfer/error.h"
#include "vidinfer/import.h"

namespace vidinfer {
namespace {

using json = nlohmann::json;
using tfjs::Node;

std::vector<char> read_file(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + what, path, std::strerror(errno));
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

std::string dir_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

// Weights by node name, in TensorFlow's layout, float32 (or int32/bool) on the CPU.
std::map<std::string, torch::Tensor> load_weights(const std::string& path, const json& manifest) {
  std::map<std::string, torch::Tensor> weights;
  if (!manifest.is_array()) throw Error("cannot import TF.js model", path, "weightsManifest is missing or not a list");
  for (const auto& group : manifest) {
    std::vector<char> data;
    for (const auto& shard : group.at("paths")) {
      auto bytes = read_file(dir_of(path) + shard.get<std::string>(), "TF.js weight shard");
      data.insert(data.end(), bytes.begin(), bytes.end());
    }
    size_t offset = 0;
    for (const auto& w : group.at("weights")) {
      const auto name = w.at("name").get<std::string>();
      std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
      int64_t n = 1;
      for (auto d : shape) n *= d;
      const auto dtype = w.at("dtype").get<std::string>();
      std::string stored = dtype;
      double scale = 1.0, min = 0.0;
      if (w.contains("quantization")) {
        const auto& q = w["quantization"];
        stored = q.at("dtype").get<std::string>();
        if (stored == "uint8" || stored == "uint16") {
          scale = q.at("scale").get<double>();
          min = q.at("min").get<double>();
        } else if (stored != "float16") {
          throw Error("cannot import TF.js model", path, "weight '" + name + "' has unsupported quantization " + stored);
        }
      }
      const std::map<std::string, size_t> sizes{{"float32", 4}, {"int32", 4}, {"bool", 1}, {"float16", 2},
                                                {"uint8", 1},   {"uint16", 2}};
      const auto sz = sizes.find(stored);
      if (sz == sizes.end())
        throw Error("cannot import TF.js model", path, "weight '" + name + "' has unsupported dtype " + stored);
      const size_t bytes = sz->second * static_cast<size_t>(n);
      if (offset + bytes > data.size())
        throw Error("cannot import TF.js model", path,
                    "weight shards end early: '" + name + "' needs bytes " + std::to_string(offset) + ".." +
                        std::to_string(offset + bytes) + " of " + std::to_string(data.size()));
      const char* p = data.data() + offset;
      offset += bytes;
      torch::Tensor t;
      if (stored == "float32" || stored == "int32" || stored == "bool") {
        const auto st = stored == "float32" ? torch::kFloat : stored == "int32" ? torch::kInt : torch::kBool;
        t = torch::empty({n}, st);
        std::memcpy(t.data_ptr(), p, bytes);
      } else if (stored == "float16") {
        t = torch::empty({n}, torch::kHalf);
        std::memcpy(t.data_ptr(), p, bytes);
        t = t.to(torch::kFloat);
      } else {  // affine-quantized: value = q * scale + min, as TF.js computes it (in double)
        t = torch::empty({n}, torch::kDouble);
        auto* out = t.data_ptr<double>();
        for (int64_t i = 0; i < n; ++i) {
          uint32_t q = 0;
          if (stored == "uint8") q = static_cast<uint8_t>(p[i]);
          else {
            uint16_t v;
            std::memcpy(&v, p + 2 * i, 2);
            q = v;
          }
          out[i] = q * scale + min;
        }
        t = t.to(dtype == "int32" ? torch::kInt : torch::kFloat);
      }
      if (dtype == "int32" && t.scalar_type() != torch::kInt) t = t.round().to(torch::kInt);
      weights[name] = t.reshape(shape);
    }
  }
  return weights;
}

}  // namespace

torch::jit::Module import_tfjs_graph(const std::string& model_json, const TfjsImportOptions& options,
                                     std::string* source) {
  const auto text = read_file(model_json, "TF.js model");
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    throw Error("cannot import TF.js model", model_json, std::string("not valid JSON: ") + e.what());
  }
  try {
    if (!j.contains("modelTopology") || !j["modelTopology"].contains("node"))
      throw Error("cannot import TF.js model", model_json,
                  "no modelTopology.node: not a TF.js graph model (layers models are not supported)");
    std::map<std::string, Node> nodes;
    for (const auto& n : j["modelTopology"]["node"]) {
      Node node{n.at("name").get<std::string>(), n.at("op").get<std::string>(), {}, n.value("attr", json::object())};
      if (n.contains("input"))
        for (const auto& i : n["input"]) {
          const auto s = i.get<std::string>();
          if (!s.empty() && s[0] != '^') node.inputs.push_back(s);  // control inputs carry no data
        }
      nodes.emplace(node.name, std::move(node));
    }
    auto outputs = options.outputs;
    if (outputs.empty() && j.contains("signature") && j["signature"].contains("outputs"))
      for (const auto& [key, o] : j["signature"]["outputs"].items()) outputs.push_back(o.value("name", key));
    if (outputs.empty()) throw Error("cannot import TF.js model", model_json, "no outputs given and no signature outputs");
    for (auto& o : outputs) {
      if (const auto c = o.find(':'); c != std::string::npos && o.substr(c + 1) == "0") o = o.substr(0, c);
      if (!nodes.count(o)) throw Error("cannot import TF.js model", model_json, "no node named '" + o + "' to output");
    }
    auto weights = load_weights(model_json, j.value("weightsManifest", json()));
    return tfjs::emit_torchscript(model_json, std::move(nodes), std::move(weights), outputs, source);
  } catch (const json::exception& e) {
    throw Error("cannot import TF.js model", model_json, std::string("malformed model JSON: ") + e.what());
  }
}

}  // namespace vidinfer

namespace vidinfer {

void import_tfjs(const std::string& model_json, const std::string& out_pt, const std::vector<std::string>& outputs,
                 const std::string& provenance) {
  TfjsImportOptions o;
  o.outputs = outputs;
  auto m = import_tfjs_graph(model_json, o);
  m.register_attribute("provenance", c10::StringType::get(), provenance);
  try {
    m.save(out_pt);
  } catch (const std::exception& e) {
    throw Error("cannot write TorchScript model", out_pt, e.what());
  }
}

}  // namespace vidinfer
