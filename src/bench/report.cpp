// The reports of vidinfer bench (include/vidinfer/bench.h): the table on stdout, the JSON file and
// the bar chart of frames per second.
#include "vidinfer/bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/chart.h"
#include "common/av.h"
#include "output/annotate.h"

namespace vidinfer {

namespace fs = std::filesystem;

std::string bench_table(const BenchReport& r) {
  std::ostringstream o;
  char line[512];
  o << "machine: " << r.machine << "\n";
  if (!r.command.empty()) o << "command: " << r.command << "\n";
  o << "model: " << r.model << " (" << r.dtype << ", batch " << r.batch << ", on " << r.device << "); "
    << r.inputs << " input(s)\n";
  std::snprintf(line, sizeof line, "%-8s %-10s %8s %8s %9s %8s %8s %8s %5s %6s  %s\n", "length", "mode", "frames",
                "seconds", "fps", "speedup", "gpuMiB", "rssMiB", "cpu", "setup", "stage seconds");
  o << line;
  for (const auto& row : r.rows) {
    std::string stages;
    for (const auto& [name, s] : row.stages) {
      if (s <= 0) continue;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", stages.empty() ? "" : ", ", name.c_str(), s);
      stages += buf;
    }
    if (row.top1_agreement >= 0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "; top-1 = baseline's on %.1f%%", row.top1_agreement * 100);
      stages += buf;
    }
    if (row.live_streams > 0) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "; live: %d of %d streams in real time, %lld frames dropped, latency p50 %.1f ms, p99 %.1f ms (worst stream)",
                    row.live_realtime, row.live_streams, static_cast<long long>(row.live_dropped), row.live_p50_ms,
                    row.live_p99_ms);
      stages += buf;
      if (row.live_p99_all_ms >= 0) {
        std::snprintf(buf, sizeof buf, "; all frames: p99 %.1f ms", row.live_p99_all_ms);
        stages += buf;
      }
      if (row.live_p99_settled_ms >= 0) {
        std::snprintf(buf, sizeof buf, ", %.1f ms after each stream's first second", row.live_p99_settled_ms);
        stages += buf;
      }
    }
    if (row.failed) stages += "; " + row.note;
    const std::string len = row.length ? std::to_string(row.length) : "as given";
    char speed[32] = "-";
    if (row.speedup > 0) std::snprintf(speed, sizeof speed, "%.2fx", row.speedup);
    const std::string gpu = row.gpu_memory_mib >= 0 ? std::to_string(std::lround(row.gpu_memory_mib)) : "-";
    std::snprintf(line, sizeof line, "%-8s %-10s %8lld %8.2f %9.1f %8s %8s %8ld %5.2f %6.2f  %s\n", len.c_str(),
                  row.mode.c_str(), static_cast<long long>(row.frames), row.seconds, row.fps, speed,
                  gpu.c_str(), std::lround(row.rss_mib), row.cpu_cores, row.setup_seconds, stages.c_str());
    o << line;
  }
  return o.str();
}

std::string bench_json(const BenchReport& r) {
  nlohmann::json j;
  j["machine"] = r.machine;
  j["command"] = r.command;
  j["model"] = r.model;
  j["device"] = r.device;
  j["dtype"] = r.dtype;
  j["batch"] = r.batch;
  j["inputs"] = r.inputs;
  j["rows"] = nlohmann::json::array();
  for (const auto& row : r.rows) {
    nlohmann::json x;
    x["length"] = row.length;
    x["mode"] = row.mode;
    x["frames"] = row.frames;
    x["seconds"] = row.seconds;
    x["setup_seconds"] = row.setup_seconds;
    x["fps"] = row.fps;
    x["speedup"] = row.speedup > 0 ? nlohmann::json(row.speedup) : nlohmann::json();
    x["stages_seconds"] = nlohmann::json::object();
    for (const auto& [name, s] : row.stages) x["stages_seconds"][name] = s;
    x["gpu_memory_mib"] = row.gpu_memory_mib >= 0 ? nlohmann::json(row.gpu_memory_mib) : nlohmann::json();
    x["rss_mib"] = row.rss_mib;
    x["cpu_cores"] = row.cpu_cores;
    if (row.top1_agreement >= 0) x["top1_agreement"] = row.top1_agreement;
    if (row.live_streams > 0)
      x["live"] = {{"streams", row.live_streams}, {"realtime_streams", row.live_realtime}, {"frames_dropped", row.live_dropped},
                   {"latency_p50_ms", row.live_p50_ms}, {"latency_p99_ms", row.live_p99_ms},
                   {"latency_p99_all_frames_ms", row.live_p99_all_ms < 0 ? nlohmann::json() : nlohmann::json(row.live_p99_all_ms)},
                   {"latency_p99_settled_ms", row.live_p99_settled_ms < 0 ? nlohmann::json() : nlohmann::json(row.live_p99_settled_ms)}};
    x["note"] = row.note;
    x["failed"] = row.failed;
    j["rows"].push_back(x);
  }
  return j.dump(2) + "\n";
}

void write_bench_chart(const BenchReport& r, const std::string& path) {
  BarChart c;
  c.title = "vidinfer bench: " + fs::path(r.model).filename().string() + ", " + r.dtype + ", batch " +
            std::to_string(r.batch) + ", " + std::to_string(r.inputs) + " input(s), " + r.device;
  c.y_label = "frames per second";
  std::vector<int64_t> lengths;
  for (const auto& row : r.rows) {
    if (std::find(lengths.begin(), lengths.end(), row.length) == lengths.end()) lengths.push_back(row.length);
    if (std::find(c.series.begin(), c.series.end(), row.mode) == c.series.end()) c.series.push_back(row.mode);
  }
  for (int64_t len : lengths) {
    c.groups.push_back(len ? std::to_string(len) + " frames/input" : "inputs as given");
    std::vector<double> v(c.series.size(), std::nan(""));
    for (const auto& row : r.rows)
      if (row.length == len && !row.failed)
        v[std::find(c.series.begin(), c.series.end(), row.mode) - c.series.begin()] = row.fps;
    c.values.push_back(v);
  }
  const RgbImage img = render_bar_chart(c);
  // FFmpeg's PNG encoder (compressed: kilobytes) where this FFmpeg has one; else our uncompressed
  // writer (the GPU machine's FFmpeg kit has no encoders; see bench/chart.h).
  if (avcodec_find_encoder(AV_CODEC_ID_PNG))
    write_png(path, img.rgb.data(), img.width, img.height, img.width * 3);
  else
    write_png(path, img);
}

}  // namespace vidinfer
