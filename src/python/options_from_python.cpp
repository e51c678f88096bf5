#include "python/options_from_python.h"

#include <cmath>
#include <string>
#include <vector>

#include "vidinfer/error.h"

namespace py = pybind11;

namespace vidinfer {
namespace {

bool given(const py::dict& kw, const char* key) { return kw.contains(key) && !kw[key].is_none(); }

template <typename T>
T get(const py::dict& kw, const char* key) {
  try {
    return kw[key].cast<T>();
  } catch (const py::cast_error&) {
    throw Error(std::string("invalid ") + key, "", "got " + std::string(py::str(py::repr(kw[key]))));
  }
}

std::array<float, 3> three(const py::dict& kw, const char* key) {
  const auto v = get<std::vector<float>>(kw, key);
  if (v.size() == 1) return {v[0], v[0], v[0]};
  if (v.size() != 3) throw Error(std::string("invalid ") + key, "", "expected 1 or 3 numbers");
  return {v[0], v[1], v[2]};
}

}  // namespace

// The live inputs' options (docs/live.md), named as the CLI's without the dashes; max_batch_wait in
// seconds (the CLI's --max-batch-wait is in milliseconds).
static void live_options(const py::dict& kw, LiveOptions& live) {
  if (given(kw, "duration")) {
    live.duration = get<double>(kw, "duration");
    if (live.duration < 0) throw Error("invalid duration", "", "must be 0 (no limit) or more seconds");
  }
  if (given(kw, "live_drop")) live.drop = parse_live_drop(get<std::string>(kw, "live_drop"));
  if (given(kw, "max_batch_wait")) {
    live.max_batch_wait = get<double>(kw, "max_batch_wait");
    if (live.max_batch_wait < 0) throw Error("invalid max_batch_wait", "", "must be 0 or more seconds");
  }
  if (given(kw, "max_lag")) {
    live.max_lag = get<double>(kw, "max_lag");
    if (!(live.max_lag >= 0)) throw Error("invalid max_lag", "", "must be 0 (never skip) or more seconds");
  }
  if (given(kw, "reconnect")) {
    live.reconnect = get<int>(kw, "reconnect");
    if (live.reconnect < -1) throw Error("invalid reconnect", "", "expected attempts >= 0, or -1 for no limit");
  }
  if (given(kw, "stall_timeout")) {
    live.stall_timeout = get<double>(kw, "stall_timeout");
    if (live.stall_timeout < 0) throw Error("invalid stall_timeout", "", "must be 0 (wait for ever) or more seconds");
  }
  if (given(kw, "rtsp_transport")) {
    live.rtsp_transport = get<std::string>(kw, "rtsp_transport");
    if (live.rtsp_transport != "tcp" && live.rtsp_transport != "udp")
      throw Error("invalid rtsp_transport '" + live.rtsp_transport + "'", "", "expected tcp or udp");
  }
  if (given(kw, "live_pace")) live.pace_files = get<bool>(kw, "live_pace");
  if (given(kw, "pace_stagger")) {
    live.pace_stagger = get<double>(kw, "pace_stagger");
    if (!(live.pace_stagger >= 0)) throw Error("invalid pace_stagger", "", "must be 0 or more seconds");
  }
}

RunOptions options_from_python(const py::dict& kw) {
  RunOptions opt;
  if (given(kw, "model_path")) {
    opt.model_path = get<std::string>(kw, "model_path");
    Sidecar side = load_model_sidecar(opt.model_path);
    opt.spec = side.spec;
    opt.labels = side.labels;
    opt.task = side.task.value_or(Task::Classify);
  }
  if (given(kw, "task")) opt.task = parse_task(get<std::string>(kw, "task"));
  if (given(kw, "labels")) {
    if (py::isinstance<py::str>(kw["labels"])) opt.labels = load_labels(get<std::string>(kw, "labels"));
    else opt.labels = get<std::vector<std::string>>(kw, "labels");
  }
  ModelSpec& s = opt.spec;
  if (given(kw, "input_size")) {
    const py::object v = kw["input_size"];
    std::vector<int> wh = py::isinstance<py::int_>(v) ? std::vector<int>{v.cast<int>(), v.cast<int>()}
                                                      : get<std::vector<int>>(kw, "input_size");
    if (wh.size() != 2 || wh[0] <= 0 || wh[1] <= 0 || wh[0] > 8192 || wh[1] > 8192)
      throw Error("invalid input_size", "", "expected N or (width, height), 1..8192");
    s.width = wh[0];
    s.height = wh[1];
  }
  if (given(kw, "resize")) s.resize = parse_resize_mode(get<std::string>(kw, "resize"));
  if (given(kw, "letterbox_fill")) s.letterbox_fill = get<int>(kw, "letterbox_fill");
  if (given(kw, "mean")) s.mean = three(kw, "mean");
  if (given(kw, "std")) {
    s.std = three(kw, "std");
    if (s.std[0] == 0 || s.std[1] == 0 || s.std[2] == 0) throw Error("invalid std", "", "must not be 0");
  }
  if (given(kw, "channels")) s.channels = parse_channels(get<std::string>(kw, "channels"));
  if (given(kw, "dtype")) s.dtype = parse_dtype(get<std::string>(kw, "dtype"));
  if (given(kw, "batch")) {
    s.batch = get<int>(kw, "batch");
    if (s.batch < 1 || s.batch > 4096) throw Error("invalid batch " + std::to_string(s.batch), "", "expected 1..4096");
  }
  if (given(kw, "class_activation")) s.class_activation = parse_activation(get<std::string>(kw, "class_activation"));
  if (given(kw, "detect_layout")) s.detect_layout = parse_detect_layout(get<std::string>(kw, "detect_layout"));
  if (given(kw, "box_format")) s.box_format = parse_box_format(get<std::string>(kw, "box_format"));
  if (given(kw, "boxes_normalized")) s.boxes_normalized = get<bool>(kw, "boxes_normalized");
  if (given(kw, "score_activation")) s.score_activation = parse_activation(get<std::string>(kw, "score_activation"));
  if (given(kw, "topk")) opt.topk = get<int>(kw, "topk");
  if (given(kw, "score_threshold")) opt.score_threshold = get<float>(kw, "score_threshold");
  if (given(kw, "iou_threshold")) opt.iou_threshold = get<float>(kw, "iou_threshold");
  if (given(kw, "max_detections")) opt.max_detections = get<int>(kw, "max_detections");
  if (given(kw, "every")) {
    opt.selection.every = get<int64_t>(kw, "every");
    if (opt.selection.every < 1) throw Error("invalid every", "", "must be at least 1");
  }
  if (given(kw, "start")) opt.selection.start = get<double>(kw, "start");
  if (given(kw, "end")) {
    opt.selection.end = get<double>(kw, "end");
    if (opt.selection.end <= opt.selection.start) throw Error("invalid end", "", "must be after start");
  }
  if (given(kw, "max_frames")) opt.selection.max_frames = get<int64_t>(kw, "max_frames");
  if (given(kw, "device")) opt.device = Device::parse(get<std::string>(kw, "device"));
  if (given(kw, "devices")) {
    opt.devices = parse_devices(get<std::string>(kw, "devices"));
    opt.device = opt.devices.front();
  }
  if (given(kw, "decoder")) opt.decoder = parse_decoder_choice(get<std::string>(kw, "decoder"));
  if (given(kw, "decode_threads")) opt.decode_threads = get<int>(kw, "decode_threads");
  if (given(kw, "streams")) opt.streams = get<int>(kw, "streams");
  if (given(kw, "segments")) opt.segments = get<int>(kw, "segments");
  if (given(kw, "cpu_threads")) opt.cpu_threads = get<int>(kw, "cpu_threads");
  if (given(kw, "apply_rotation")) opt.apply_rotation = get<bool>(kw, "apply_rotation");
  if (given(kw, "nvdec_resize")) opt.nvdec_resize = get<bool>(kw, "nvdec_resize");
  if (given(kw, "on_error")) {
    const auto e = get<std::string>(kw, "on_error");
    if (e != "skip" && e != "fail") throw Error("invalid on_error '" + e + "'", "", "expected skip or fail");
    opt.stop_on_error = e == "fail";
  }
  if (given(kw, "cuda_graph")) opt.tuning.cuda_graph = get<bool>(kw, "cuda_graph");
  live_options(kw, opt.live);
  return opt;
}

}  // namespace vidinfer
