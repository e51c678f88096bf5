#include "output/json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "vidinfer/error.h"

namespace vidinfer {
namespace {

// Scores and coordinates to a sensible number of digits, so output is small and diffable.
// Dividing by the power of ten (not multiplying by its inverse) gives the double nearest the decimal,
// which prints in its short form.
double round_to(double v, double q) {
  const double inv = std::round(1.0 / q);
  return std::round(v * inv) / inv;
}

nlohmann::ordered_json label_or_null(const std::string& s) { return s.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s); }

nlohmann::ordered_json live_json(const LiveSummary& l) {
  return {{"frames_received", l.frames_received},
          {"frames_processed", l.frames_processed},
          {"frames_dropped", l.frames_dropped},
          {"reconnects", l.reconnects},
          {"gap_seconds", round_to(l.gap_seconds, 1e-3)},
          {"latency_ms",
           {{"p50", round_to(l.latency_p50 * 1e3, 0.01)},
            {"p95", round_to(l.latency_p95 * 1e3, 0.01)},
            {"p99", round_to(l.latency_p99 * 1e3, 0.01)},
            {"max", round_to(l.latency_max * 1e3, 0.01)}}}};
}

}  // namespace

std::string to_string(InputStatus s) {
  switch (s) {
    case InputStatus::Ok: return "ok";
    case InputStatus::Skipped: return "skipped";
    default: return "failed";
  }
}

nlohmann::ordered_json end_of_input_record(const InputSummary& s) {
  nlohmann::ordered_json j{{"input", s.input},
                           {"end_of_input", true},
                           {"status", to_string(s.status)},
                           {"frames_decoded", s.frames_decoded},
                           {"frames_processed", s.frames_processed},
                           {"packets_corrupt", s.packets_corrupt}};
  if (!s.device.empty()) j["device"] = s.device;
  if (s.live) j["live"] = live_json(*s.live);
  if (!s.error.empty()) j["error"] = s.error;
  if (!s.warning.empty()) j["warning"] = s.warning;
  return j;
}

nlohmann::ordered_json to_json(const FrameResult& r, Task task) {
  nlohmann::ordered_json j;
  j["input"] = r.input;
  j["frame"] = r.frame_index;
  j["pts"] = round_to(r.pts, 1e-6);
  j["width"] = r.width;
  j["height"] = r.height;
  if (r.received > 0) {  // live inputs
    j["received"] = round_to(r.received, 1e-6);
    j["latency_ms"] = round_to(r.latency * 1e3, 0.01);
    if (r.gap_before > 0) j["gap_before_s"] = round_to(r.gap_before, 1e-3);
  }
  auto arr = nlohmann::ordered_json::array();
  if (task == Task::Classify) {
    for (const auto& c : r.classes)
      arr.push_back({{"class_id", c.class_id}, {"label", label_or_null(c.label)}, {"score", round_to(c.score, 1e-6)}});
    j["classes"] = std::move(arr);
  } else {
    for (const auto& d : r.detections)
      arr.push_back({{"box", {round_to(d.x1, 0.01), round_to(d.y1, 0.01), round_to(d.x2, 0.01), round_to(d.y2, 0.01)}},
                     {"score", round_to(d.score, 1e-6)},
                     {"class_id", d.class_id},
                     {"label", label_or_null(d.label)}});
    j["detections"] = std::move(arr);
  }
  return j;
}

nlohmann::ordered_json to_json(const RunSummary& s) {
  nlohmann::ordered_json j;
  j["frames"] = s.frames;
  j["seconds"] = round_to(s.seconds, 1e-4);
  j["fps"] = round_to(s.fps, 0.01);
  j["device"] = s.device;
  j["model"] = s.model;
  j["host_to_device_bytes"] = s.host_to_device_bytes;
  j["stages_seconds"] = {{"demux", round_to(s.stages.demux, 1e-4)},
                         {"decode", round_to(s.stages.decode, 1e-4)},
                         {"preprocess", round_to(s.stages.preprocess, 1e-4)},
                         {"infer", round_to(s.stages.infer, 1e-4)},
                         {"postprocess", round_to(s.stages.postprocess, 1e-4)}};
  if (!s.devices.empty()) {
    auto per = nlohmann::ordered_json::array();
    for (const auto& d : s.devices)
      per.push_back({{"device", d.device}, {"frames", d.frames}, {"seconds", round_to(d.seconds, 1e-4)},
                     {"fps", round_to(d.fps, 0.01)}});
    j["devices"] = std::move(per);
  }
  j["inputs_failed"] = s.failed_inputs();
  j["interrupted"] = s.interrupted;
  if (s.shard)
    j["shard"] = {{"index", s.shard->index}, {"count", s.shard->count}, {"inputs", s.shard->inputs}, {"of", s.shard->of}};
  auto inputs = nlohmann::ordered_json::array();
  for (const auto& i : s.inputs) {
    nlohmann::ordered_json o{{"input", i.input},
                     {"status", to_string(i.status)},
                     {"decoder", label_or_null(i.decoder)},
                     {"frames_decoded", i.frames_decoded},
                     {"frames_processed", i.frames_processed},
                     {"packets_corrupt", i.packets_corrupt},
                     {"seconds", round_to(i.seconds, 1e-4)}};
    if (!i.device.empty()) o["device"] = i.device;
    if (i.live) o["live"] = live_json(*i.live);
    if (!i.error.empty()) o["error"] = i.error;
    if (!i.warning.empty()) o["warning"] = i.warning;
    inputs.push_back(std::move(o));
  }
  j["inputs"] = std::move(inputs);
  return j;
}

nlohmann::ordered_json to_json(const ProbeInfo& p) {
  return {{"input", p.input},
          {"container", p.container},
          {"stream_index", p.stream_index},
          {"codec", p.codec},
          {"profile", label_or_null(p.profile)},
          {"width", p.width},
          {"height", p.height},
          {"pixel_format", p.pixel_format},
          {"bit_depth", p.bit_depth},
          {"frame_rate", round_to(p.frame_rate, 1e-3)},
          {"duration", round_to(p.duration, 1e-3)},
          {"live", p.live},
          {"frame_count", p.live ? nlohmann::ordered_json() : nlohmann::ordered_json(p.frame_count)},
          {"frame_count_source", p.live ? nlohmann::ordered_json() : p.frame_count_exact ? "counted" : "container"},
          {"color_matrix", p.color_matrix},
          {"color_range", p.color_range},
          {"color_primaries", p.color_primaries},
          {"color_transfer", p.color_transfer},
          {"rotation", p.rotation},
          {"gpu_decode", p.gpu_decode},
          {"gpu_decode_reason", p.gpu_reason}};
}

JsonlWriter::JsonlWriter(const std::string& path) : path_(path) {
  if (path.empty() || path == "-") {
    to_stdout_ = true;
    f_ = stdout;
    return;
  }
  tmp_ = path + ".tmp";
  f_ = std::fopen(tmp_.c_str(), "w");
  if (!f_) throw Error("cannot write output", path, std::strerror(errno));
}

JsonlWriter::~JsonlWriter() {
  if (to_stdout_ || !f_) return;
  std::fclose(f_);
  std::remove(tmp_.c_str());
}

std::string json_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string frame_json(const FrameResult& r, Task task) { return json_line(to_json(r, task)); }
std::string end_of_input_json(const InputSummary& s) { return json_line(end_of_input_record(s)); }
std::string summary_json(const RunSummary& s, int indent) { return to_json(s).dump(indent); }
std::string probe_json(const ProbeInfo& p) { return to_json(p).dump(); }

void JsonlWriter::write_line(const std::string& line) {
  const std::string s = line + "\n";
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) throw Error("cannot write output", path_, std::strerror(errno));
  if (flush_each_line_ && std::fflush(f_) != 0) throw Error("cannot write output", path_, std::strerror(errno));
}

void JsonlWriter::close() {
  if (to_stdout_) {
    std::fflush(stdout);
    return;
  }
  if (!f_) return;
  const bool ok = std::fflush(f_) == 0;
  std::fclose(f_);
  f_ = nullptr;
  if (!ok) throw Error("cannot write output", path_, std::strerror(errno));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw Error("cannot write output", path_, std::strerror(errno));
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) throw Error("cannot write", path, std::strerror(errno));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    throw Error("cannot write", path, std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("cannot write", path, std::strerror(errno));
}

}  // namespace vidinfer
