// Options of a run: the model's input contract (ModelSpec), task head settings and frame selection.
// Plain value types; safe to copy between threads.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace vidinfer {

enum class Task { Classify, Detect };
enum class ResizeMode { Stretch, Letterbox, CenterCrop };
enum class ChannelOrder { RGB, BGR };
enum class DType { Float32, Float16, BFloat16 };

// How a detection model reports its results.
//  - BoxesScoresLabels: final detections, as a tuple/list (boxes [B,N,4], scores [B,N], labels [B,N]),
//    a dict with those keys, or a list of B such dicts (torchvision style).
//  - Dense: a raw head, tuple (boxes [B,N,4], class scores [B,N,C]); thresholding and class-aware
//    NMS are done here.
//  - CenterNet: tuple (heatmap [B,C,H,W] of per-class centre scores after their sigmoid, box map
//    [B,4,H,W] of distances left, up, right, down from each cell's centre, in input pixels). Decoded
//    here as CenterNet does: 3x3 max-pool peaks, top-k over cells and classes, score threshold; no NMS.
enum class DetectLayout { BoxesScoresLabels, Dense, CenterNet };
enum class BoxFormat { XYXY, XYWH, CXCYWH };
enum class Activation { None, Sigmoid, Softmax };

struct ModelSpec {
  int width = 224;
  int height = 224;
  ResizeMode resize = ResizeMode::Stretch;
  int letterbox_fill = 114;  // 0..255, the pad colour (all channels) before normalisation
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // on the 0..1 scale, in the model's channel order
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  ChannelOrder channels = ChannelOrder::RGB;
  DType dtype = DType::Float32;
  int batch = 8;

  // What the model itself takes, where it says so: the sidecar's `batch_range`; for an AOTInductor
  // package (compiled for one dtype and a range of batches) its metadata, else its sidecar's `dtype`
  // and `batch_range`. A batch outside [min_batch, max_batch], or a dtype other than compiled_dtype,
  // is refused before any frame is decoded (check_model_spec). A package pads a smaller last batch
  // up to min_batch itself.
  int min_batch = 1;
  int max_batch = 0;  // 0: no upper bound
  std::optional<DType> compiled_dtype;

  // Classification head: what the model's [B,C] output holds.
  Activation class_activation = Activation::Softmax;  // Softmax: logits; None: already probabilities

  // Detection head.
  DetectLayout detect_layout = DetectLayout::BoxesScoresLabels;
  BoxFormat box_format = BoxFormat::XYXY;
  bool boxes_normalized = false;  // true: box coordinates are 0..1 of the model input
  Activation score_activation = Activation::None;  // Dense heads: applied to the class scores
  int label_offset = 0;  // added to the model's class ids (both tasks) before looking up labels
};

// Where the model runs. Parsed from "auto", "cpu", "cuda" or "cuda:N" (Device::parse); resolved to a
// present device when a Pipeline is made ("auto": the first GPU when LibTorch has CUDA and one is
// visible, else the CPU).
struct Device {
  enum class Kind { Auto, Cpu, Cuda };
  Kind kind = Kind::Auto;
  int index = 0;  // Cuda: the GPU's ordinal

  static Device automatic() { return {}; }
  static Device cpu() { return {Kind::Cpu, 0}; }
  static Device cuda(int index = 0) { return {Kind::Cuda, index}; }
  // Throws vidinfer::Error "invalid device 'X': expected auto, cpu, cuda or cuda:N".
  static Device parse(const std::string& name);
  std::string str() const;  // "auto", "cpu", "cuda:N"
  bool operator==(const Device&) const = default;
};

// "cuda:0,cuda:1,..." (any of Device::parse's names, comma-separated) or "all" (every CUDA GPU this
// process sees; an error naming the cause when there is none). Throws vidinfer::Error.
std::vector<Device> parse_devices(const std::string& list);

// Which decoder reads the frames. Auto: NVDEC when the model is on a GPU and NVDEC takes the
// stream, else libavcodec; Cpu: always libavcodec; Gpu: NVDEC or the input fails.
enum class DecoderChoice { Auto, Cpu, Gpu };
DecoderChoice parse_decoder_choice(const std::string& s);  // "auto" | "cpu" | "gpu"; throws vidinfer::Error
std::string to_string(DecoderChoice d);

// Which CUDA work the GPU's block scheduler serves first when both kinds are queued: the
// preprocessing on the decoders' streams (measured best), the model's forwards and heads, or neither.
enum class StreamPriority { Preprocess, Model, Equal };
// The preprocessing kernel: Auto the separable one where it fits (measured best), else the direct
// one; Direct the per-pixel one everywhere (for measuring against it).
enum class PreprocessKernel { Auto, Direct };

// Knobs for measuring the GPU path, not for everyday use: each default is what measured best (see
// docs/performance.md). The library never reads the environment; the vidinfer CLI fills these from
// VIDINFER_* variables (named beside each field; docs/cli.md lists them).
struct Tuning {
  bool nvdec_prepare = true;        // VIDINFER_NVDEC_PREPARE=0: no NVDEC sessions made while the model loads
  bool nvdec_reuse = true;          // VIDINFER_NVDEC_REUSE=0: NVDEC sessions not kept between inputs
  bool nvdec_serial_create = true;  // VIDINFER_NVDEC_SERIAL_CREATE=0: sessions created concurrently
  bool cuda_graph = true;           // VIDINFER_CUDA_GRAPH=0: full batches' forward launched, not replayed
  bool overlap_head = true;         // VIDINFER_OVERLAP_HEAD=0: each batch's head finished before the next forward
  StreamPriority stream_priority = StreamPriority::Preprocess;  // VIDINFER_STREAM_PRIORITY=preprocess|model|equal
  PreprocessKernel preprocess_kernel = PreprocessKernel::Auto;  // VIDINFER_PREPROCESS_KERNEL=direct
  // VIDINFER_TRACE: 1 prints to stderr where the time goes (per input, per run, the model's thread);
  // 2 adds the model stream's timeline (its idle gaps and what they waited for).
  int trace = 0;
};

struct FrameSelection {
  int64_t every = 1;  // process every N-th frame of those in [start, end)
  double start = 0.0;  // seconds from the start of the stream
  double end = std::numeric_limits<double>::infinity();
  int64_t max_frames = -1;  // per input; -1: no limit
};

// What a live frame is dropped for when the model falls behind (LiveOptions::drop).
//  - WhenFull: a decoded frame of a live input is dropped, and counted, when no batch slot comes free
//    within LiveOptions::max_batch_wait (every batch of the pool is queued for the model): the
//    queues stay as short as the pool, and so does the latency; the other frames go on.
//  - None: the decoder waits for a slot (back-pressure): no frame is lost, but a model slower than
//    the streams makes the latency grow without bound (and a UDP source drops packets instead).
enum class LiveDrop { WhenFull, None };
LiveDrop parse_live_drop(const std::string& s);  // "when-full" | "none"; throws vidinfer::Error
std::string to_string(LiveDrop d);

// Inputs read as they come (URLs such as rtsp://, udp://, srt://, http(s):// and HLS; "-" or pipe:
// for standard input; files with `pace`): each holds a decode worker for as long as it runs, is
// never split, and has no expected length. A live input runs until it ends (pipes, HTTP), `duration`
// passes, or the run is cancelled. Its frame results carry their receive time and latency, and its
// summary the frames received, processed and dropped, the reconnects and the latency percentiles.
struct LiveOptions {
  double duration = 0;  // seconds of wall clock per live input, from its opening; 0: no limit
  LiveDrop drop = LiveDrop::WhenFull;
  // A batch holding a live frame goes to the model after at most this long, however full, so that
  // few streams do not wait for a full batch; and a live frame waits at most this long for a slot
  // before it is dropped (LiveDrop::WhenFull).
  double max_batch_wait = 0.02;  // seconds
  // With LiveDrop::WhenFull: a stream read more than this far behind its own clock (its packets
  // waited, in the socket or a paced file's schedule, because the decoders or the model could not
  // keep up) skips its packets up to the next keyframe and counts their frames as dropped, so that
  // it is real time again and latency stays bounded; frame numbering goes on past them. "Behind"
  // is when the packet was read minus its decode timestamp, over that difference for the packets
  // that came at the stream's pace (LiveLag, src/pipeline/live_lag.h). 0: never skip.
  double max_lag = 1.0;  // seconds
  // A stream that is lost (an error, a stall, or the end of an rtsp/rtmp/udp/srt/tcp stream) is
  // opened again after a back-off of 0.5 s, doubling to 8 s; frame numbering goes on and the gap is
  // reported. `reconnect` is how many attempts in a row may fail before the input is given up
  // (failed, its frames kept): 0 never reconnects, -1 never gives up.
  int reconnect = 10;
  double stall_timeout = 5;  // seconds without data before a live read counts as stalled
  std::string rtsp_transport = "tcp";  // "tcp" or "udp"
  // Read local files as live cameras: each packet no sooner than its own time after the first
  // (for measuring how many real-time streams a GPU holds, without a network).
  bool pace_files = false;
  // Paced files start spread over this many seconds, not all at once: input k's first packet is
  // handed out frac(k x 0.618...) x pace_stagger seconds late (evenly spread for any number of
  // inputs), so that simulated cameras are not all in phase, as real ones, started at different
  // times, are not (N copies of one clip otherwise send their N keyframes at the same instant).
  // The wait is not latency: a frame's receive time is when its packet is handed out. 0: together.
  double pace_stagger = 0;  // seconds
};

struct RunOptions {
  std::string model_path;
  Task task = Task::Classify;
  ModelSpec spec;
  std::vector<std::string> labels;  // class names, index = class id; may be empty
  int topk = 5;
  float score_threshold = 0.3f;
  float iou_threshold = 0.5f;
  int max_detections = 100;
  FrameSelection selection;
  Device device;
  // Several devices in one run (--devices): one engine per entry (its own model replica, batch pool,
  // NVDEC sessions, model thread and `streams` decode workers), all fed by one job source (inputs,
  // and segments of split inputs, go to whichever engine has a free worker); results keep the
  // one-device order guarantees. Empty: `device` alone. Entries are all GPUs or all the CPU; one
  // named twice gets two engines (for testing). parse_devices reads the CLI's form.
  std::vector<Device> devices;
  int decode_threads = 0;       // 0: libavcodec picks (all cores)
  DecoderChoice decoder = DecoderChoice::Auto;
  // NVDEC decodes each frame straight to the size the model input's resize gives it (the driver's
  // scaler, as pictures are mapped), so the kernel reads a smaller surface 1:1; where that size is
  // even and no larger than the frame, else the kernel resizes as usual. Its filter is not the
  // antialiased bilinear of the CPU reference: values differ slightly from the default GPU path.
  // Results (sizes, boxes) are still those of the full frame. Only NVDEC-decoded inputs are affected;
  // ignored where libavcodec decodes (the CLI refuses it with --decoder cpu or --device cpu).
  bool nvdec_resize = false;
  bool skip_model = false;      // decode and preprocess only (to measure those stages)
  bool skip_preprocess = false; // decode only (frames are decoded, and on the GPU mapped, then dropped;
                                // implies skip_model): the decoders' ceiling
  // Concurrency. Up to `streams` decode jobs run at once, each on its own decoder and thread, and
  // all feed one batcher that fills model batches across inputs. A job is an input, or a segment of
  // one: an input split at keyframes into segments decoded at once, whose results are re-ordered so
  // each input's frames still come in frame order.
  int streams = 0;   // 0: auto (GPU path: the NVDEC engine count + 1; CPU path: 1, libavcodec threads instead)
  int segments = 0;  // per input: 0: auto (GPU path: enough to keep `streams` decoders busy when there
                     // are fewer inputs than streams); 1: never split; N: at most N segments
  // Turn each frame as the stream's display matrix says (rotation metadata of phone videos, by a
  // quarter turn at a time) before the model: results are then in the turned frame's coordinates and
  // size. Off: frames go in as decoded (the rotation is still reported by probe).
  bool apply_rotation = false;
  bool stop_on_error = false;   // --on-error fail: stop at the first failed input (later ones are not run)
  // Annotated output (task detect), made after each input's results by decoding it again:
  std::string annotate_video;       // a video per input ("{name}": the input's file name without extension;
                                    // required in the path when there are several inputs)
  std::string annotate_frames_dir;  // a PNG still of every processed frame, DIR/<name>-<frame>.png
  // Threads LibTorch uses within one operator when the model runs on the CPU; 0: OMP_NUM_THREADS
  // where it is set (the OpenMP runtime's own setting, which LibTorch follows too), else the cores
  // this process may run on (sched_getaffinity, so taskset and container CPU sets cap it). Debian's
  // LibTorch otherwise uses one.
  int cpu_threads = 0;
  // The model batch when the model runs on the CPU, in place of spec.batch (whose default and the
  // sidecars' values are tuned for GPUs): on the CPU LibTorch's threads already share each frame's
  // work across the cores, and larger batches measured slower (docs/performance.md, "CPU path").
  // 0: spec.batch (the library's default: a batch set in code holds everywhere). The CLI sets 1
  // unless --batch is given, which then sets both.
  int cpu_batch = 0;
  LiveOptions live;
  Tuning tuning;
};

// Reads a model sidecar (JSON) over `base`; unknown keys and bad values throw vidinfer::Error naming
// `source`. Keys: input_size [w,h] or int, resize, letterbox_fill, mean, std, channels, dtype, batch,
// batch_range [min,max], task, labels (array or file relative to the sidecar), classify.activation,
// detect.layout, detect.box_format, detect.boxes_normalized, detect.score_activation,
// detect.label_offset.
struct Sidecar {
  ModelSpec spec;
  std::optional<Task> task;
  std::vector<std::string> labels;
  bool names_dtype = false;  // the sidecar has a `dtype` key
};
Sidecar parse_model_sidecar(const std::string& json_text, const std::string& source, ModelSpec base = {},
                            const std::string& base_dir = ".");
// Reads MODEL.json (the model's path + ".json", e.g. m.pt.json) if it exists (else returns base unchanged, no task, no labels).
// For an AOTInductor package, what its metadata says (scripts/export-model's `vidinfer.*` keys: input
// size, dtype, batch, batch range) comes first, under the sidecar; its dtype and batch range (else the
// sidecar's) become spec.compiled_dtype, min_batch and max_batch.
Sidecar load_model_sidecar(const std::string& model_path, ModelSpec base = {});
// Throws vidinfer::Error naming `model_path` when the model says it cannot take full batches of
// spec.batch frames, or spec.dtype (see ModelSpec::min_batch): "model does not take batches of N
// frames", "model does not run in float16".
void check_model_spec(const ModelSpec& spec, const std::string& model_path);
std::vector<std::string> load_labels(const std::string& path);

// Parsing helpers shared by the CLI and the sidecar; throw vidinfer::Error on unknown names.
ResizeMode parse_resize_mode(const std::string& s);
DType parse_dtype(const std::string& s);
ChannelOrder parse_channels(const std::string& s);
Task parse_task(const std::string& s);
DetectLayout parse_detect_layout(const std::string& s);
BoxFormat parse_box_format(const std::string& s);
Activation parse_activation(const std::string& s);
std::string to_string(Task t);
std::string to_string(ResizeMode m);
std::string to_string(DType d);

}  // namespace vidinfer
