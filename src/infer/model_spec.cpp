// Model sidecar (MODEL.pt.json) and the name parsers shared with the CLI.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "infer/model_format.h"
#include "vidinfer/error.h"
#include "vidinfer/options.h"

namespace vidinfer {
namespace {

template <typename E>
E lookup(const std::string& s, std::initializer_list<std::pair<const char*, E>> table, const char* what) {
  std::string names;
  for (const auto& [name, value] : table) {
    if (s == name) return value;
    names += names.empty() ? name : std::string(", ") + name;
  }
  throw Error(std::string("unknown ") + what + " '" + s + "'", "", "expected one of: " + names);
}

std::array<float, 3> three_floats(const nlohmann::json& j, const char* key) {
  if (j.is_number()) {
    const float v = j.get<float>();
    return {v, v, v};
  }
  if (!j.is_array() || j.size() != 3 || !std::all_of(j.begin(), j.end(), [](auto& v) { return v.is_number(); }))
    throw Error(std::string("'") + key + "' must be a number or an array of 3 numbers");
  return {j[0].get<float>(), j[1].get<float>(), j[2].get<float>()};
}

}  // namespace

ResizeMode parse_resize_mode(const std::string& s) {
  return lookup<ResizeMode>(s, {{"stretch", ResizeMode::Stretch}, {"letterbox", ResizeMode::Letterbox},
                                {"center-crop", ResizeMode::CenterCrop}, {"centre-crop", ResizeMode::CenterCrop}},
                            "resize mode");
}
DType parse_dtype(const std::string& s) {
  return lookup<DType>(s, {{"float32", DType::Float32}, {"float16", DType::Float16}, {"bfloat16", DType::BFloat16},
                           {"fp32", DType::Float32}, {"fp16", DType::Float16}, {"bf16", DType::BFloat16}},
                       "dtype");
}
ChannelOrder parse_channels(const std::string& s) {
  return lookup<ChannelOrder>(s, {{"rgb", ChannelOrder::RGB}, {"bgr", ChannelOrder::BGR}}, "channel order");
}
Task parse_task(const std::string& s) {
  return lookup<Task>(s, {{"classify", Task::Classify}, {"detect", Task::Detect}}, "task");
}
DetectLayout parse_detect_layout(const std::string& s) {
  return lookup<DetectLayout>(
      s, {{"boxes-scores-labels", DetectLayout::BoxesScoresLabels}, {"dense", DetectLayout::Dense}, {"centernet", DetectLayout::CenterNet}},
      "detection layout");
}
BoxFormat parse_box_format(const std::string& s) {
  return lookup<BoxFormat>(s, {{"xyxy", BoxFormat::XYXY}, {"xywh", BoxFormat::XYWH}, {"cxcywh", BoxFormat::CXCYWH}},
                           "box format");
}
Activation parse_activation(const std::string& s) {
  return lookup<Activation>(
      s, {{"none", Activation::None}, {"sigmoid", Activation::Sigmoid}, {"softmax", Activation::Softmax}},
      "activation");
}
std::string to_string(Task t) { return t == Task::Classify ? "classify" : "detect"; }
std::string to_string(ResizeMode m) {
  return m == ResizeMode::Stretch ? "stretch" : m == ResizeMode::Letterbox ? "letterbox" : "center-crop";
}
std::string to_string(DType d) {
  return d == DType::Float32 ? "float32" : d == DType::Float16 ? "float16" : "bfloat16";
}

std::vector<std::string> load_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read labels", path, "file not found or unreadable");
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    labels.push_back(line);
  }
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  return labels;
}

Sidecar parse_model_sidecar(const std::string& json_text, const std::string& source, ModelSpec base,
                            const std::string& base_dir) {
  Sidecar out;
  out.spec = base;
  ModelSpec& s = out.spec;
  try {
    const auto j = nlohmann::json::parse(json_text);
    if (!j.is_object()) throw Error("must be a JSON object");
    static const char* kKeys[] = {"input_size", "resize", "letterbox_fill", "mean", "std", "channels", "dtype",
                                  "batch", "batch_range", "task", "labels", "classify", "detect", "description"};
    for (const auto& [key, value] : j.items()) {
      if (std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; }) == std::end(kKeys))
        throw Error("unknown key '" + key + "'");
    }
    if (j.contains("input_size")) {
      const auto& v = j["input_size"];
      if (v.is_number_integer()) {
        s.width = s.height = v.get<int>();
      } else if (v.is_array() && v.size() == 2) {
        s.width = v[0].get<int>();
        s.height = v[1].get<int>();
      } else {
        throw Error("'input_size' must be an integer or [width, height]");
      }
      if (s.width <= 0 || s.height <= 0 || s.width > 8192 || s.height > 8192)
        throw Error("'input_size' out of range (1..8192)");
    }
    if (j.contains("resize")) s.resize = parse_resize_mode(j["resize"].get<std::string>());
    if (j.contains("letterbox_fill")) {
      s.letterbox_fill = j["letterbox_fill"].get<int>();
      if (s.letterbox_fill < 0 || s.letterbox_fill > 255) throw Error("'letterbox_fill' out of range (0..255)");
    }
    if (j.contains("mean")) s.mean = three_floats(j["mean"], "mean");
    if (j.contains("std")) s.std = three_floats(j["std"], "std");
    if (std::any_of(s.std.begin(), s.std.end(), [](float v) { return v == 0.f; }))
      throw Error("'std' must not be 0");
    if (j.contains("channels")) s.channels = parse_channels(j["channels"].get<std::string>());
    if (j.contains("dtype")) {
      s.dtype = parse_dtype(j["dtype"].get<std::string>());
      out.names_dtype = true;
    }
    if (j.contains("batch")) {
      s.batch = j["batch"].get<int>();
      if (s.batch < 1 || s.batch > 4096) throw Error("'batch' out of range (1..4096)");
    }
    if (j.contains("batch_range")) {
      const auto& r = j["batch_range"];
      if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer())
        throw Error("'batch_range' must be [min, max]");
      s.min_batch = r[0].get<int>();
      s.max_batch = r[1].get<int>();
      if (s.min_batch < 1 || s.max_batch > 4096 || s.min_batch > s.max_batch)
        throw Error("'batch_range' out of range (1 <= min <= max <= 4096)");
    }
    if (j.contains("task")) out.task = parse_task(j["task"].get<std::string>());
    if (j.contains("labels")) {
      const auto& l = j["labels"];
      if (l.is_array()) {
        out.labels = l.get<std::vector<std::string>>();
      } else if (l.is_string()) {
        out.labels = load_labels((std::filesystem::path(base_dir) / l.get<std::string>()).string());
      } else {
        throw Error("'labels' must be an array of names or a file name");
      }
    }
    auto only_keys = [](const nlohmann::json& obj, const char* name, std::initializer_list<const char*> keys) {
      if (!obj.is_object()) throw Error(std::string("'") + name + "' must be an object");
      for (const auto& [key, value] : obj.items())
        if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return key == k; }))
          throw Error("unknown key '" + std::string(name) + "." + key + "'");
    };
    if (j.contains("classify")) {
      const auto& c = j["classify"];
      only_keys(c, "classify", {"activation"});
      if (c.contains("activation")) s.class_activation = parse_activation(c["activation"].get<std::string>());
    }
    if (j.contains("detect")) {
      const auto& d = j["detect"];
      only_keys(d, "detect", {"layout", "box_format", "boxes_normalized", "score_activation", "label_offset"});
      if (d.contains("layout")) s.detect_layout = parse_detect_layout(d["layout"].get<std::string>());
      if (d.contains("box_format")) s.box_format = parse_box_format(d["box_format"].get<std::string>());
      if (d.contains("boxes_normalized")) s.boxes_normalized = d["boxes_normalized"].get<bool>();
      if (d.contains("score_activation")) s.score_activation = parse_activation(d["score_activation"].get<std::string>());
      if (d.contains("label_offset")) s.label_offset = d["label_offset"].get<int>();
    }
  } catch (const Error& e) {
    throw Error("invalid model sidecar", source, e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error("invalid model sidecar", source, e.what());
  }
  return out;
}

namespace {

// What an AOTInductor package's metadata says of its input (scripts/export-model writes these keys
// through the inductor config `aot_inductor.metadata`, whose values are strings): read as a sidecar,
// so that the values are checked alike. vidinfer.input_size: "640" or "[640, 480]"; vidinfer.dtype:
// "bfloat16"; vidinfer.batch: "8"; vidinfer.batch_range: "[1, 32]".
Sidecar package_sidecar(const std::string& model_path, const ModelSpec& base) {
  nlohmann::json j = nlohmann::json::object();
  const std::string source = model_path + " (package metadata)";
  for (const auto& [key, value] : aoti_package_metadata(model_path)) {
    if (key.rfind("vidinfer.", 0) != 0) continue;
    const std::string name = key.substr(9);
    try {
      if (name == "dtype") j[name] = value;
      else if (name == "input_size" || name == "batch" || name == "batch_range") j[name] = nlohmann::json::parse(value);
    } catch (const nlohmann::json::exception& e) {
      throw Error("invalid model sidecar", source, "'" + key + "': " + e.what());
    }
  }
  return parse_model_sidecar(j.dump(), source, base);
}

}  // namespace

Sidecar load_model_sidecar(const std::string& model_path, ModelSpec base) {
  std::optional<Sidecar> package;
  if (is_aoti_package(model_path)) {
    package = package_sidecar(model_path, base);
    base = package->spec;
  }
  const std::string path = model_path + ".json";
  std::ifstream in(path);
  Sidecar out;
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    out = parse_model_sidecar(ss.str(), path, base, std::filesystem::path(path).parent_path().string());
  } else {
    out.spec = base;
  }
  if (package) {  // what the package was compiled for: its metadata, else its sidecar
    ModelSpec& s = out.spec;
    if (package->names_dtype) s.compiled_dtype = package->spec.dtype;
    else if (out.names_dtype) s.compiled_dtype = s.dtype;
    if (package->spec.max_batch > 0) {
      s.min_batch = package->spec.min_batch;
      s.max_batch = package->spec.max_batch;
    }
  }
  return out;
}

void check_model_spec(const ModelSpec& s, const std::string& model_path) {
  if (s.max_batch > 0 && (s.batch < s.min_batch || s.batch > s.max_batch)) {
    const std::string range = s.min_batch == s.max_batch
                                  ? "exactly " + std::to_string(s.min_batch)
                                  : std::to_string(s.min_batch) + " to " + std::to_string(s.max_batch);
    throw Error("model does not take batches of " + std::to_string(s.batch) + " frames", model_path,
                "it takes batches of " + range + " frames (batch_range); give a batch in that range (--batch)");
  }
  if (s.compiled_dtype && *s.compiled_dtype != s.dtype)
    throw Error("model does not run in " + to_string(s.dtype), model_path,
                "it was compiled for " + to_string(*s.compiled_dtype) + "; use --dtype " +
                    to_string(*s.compiled_dtype) + ", or export it again in that dtype");
}

}  // namespace vidinfer
