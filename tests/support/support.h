// Test support: media made at test time with the ffmpeg CLI (cached by content hash under the build
// tree, so parallel test processes share them), ffprobe as the independent reference, decoding
// helpers, and small TorchScript models built in LibTorch.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/av.h"
#include "vidinfer/options.h"

namespace vidinfer::test {

// The message of the vidinfer::Error that f throws, or "(no error)".
std::string error_of(const std::function<void()>& f);

// Runs a shell command; returns its combined stdout+stderr; *rc gets the exit status.
std::string sh(const std::string& cmd, int* rc = nullptr);

// Shell-quotes one argument.
std::string q(const std::string& s);

// The path of a clip made by `ffmpeg -y -hide_banner -loglevel error ARGS OUT`, where OUT is
// <testdata>/<name>-<hash of args>.<ext>. Made once; later calls (any process) reuse it.
std::string clip(const std::string& name, const std::string& ext, const std::string& ffmpeg_args);

// A path under <testdata>/media for inputs that clips are made from (stable across runs).
std::string data_file(const std::string& name);

// A fresh directory under <testdata>/tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ffprobe's view of the first video stream (the reference for counts, sizes and timestamps).
nlohmann::json ffprobe_stream(const std::string& path);
struct ProbeFrame {
  double pts = 0;
  int width = 0, height = 0;
};
std::vector<ProbeFrame> ffprobe_frames(const std::string& path);

// All frames of the video stream, decoded by vidinfer's demuxer and CPU decoder.
struct Decoded {
  std::vector<UniqueAVFrame> frames;
  std::vector<double> pts;
  int64_t packets_corrupt = 0;
};
Decoded decode_all(const std::string& path);

// Writes raw bytes to a file.
void write_bytes(const std::string& path, const std::vector<uint8_t>& data);
std::vector<uint8_t> read_bytes(const std::string& path);
// Writes a zip archive of stored (uncompressed) entries, name -> bytes, in the given order, as
// PyTorch writes its archives (for model-format tests: fake AOTInductor packages, torch.save files).
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries);
// A fake AOTInductor package: the entries torch._inductor.aoti_compile_and_package writes (archive
// folder named after the file), with `metadata_json` as its wrapper's metadata and a shared library
// that is not one: enough to be told apart from TorchScript and read, not to load.
void write_fake_aoti_package(const std::string& path, const std::string& metadata_json);
// Writes `first` then `second`, byte for byte, to `out` (two transport streams joined as a stream
// that changes part-way); returns `out`.
std::string join_files(const std::string& first, const std::string& second, const std::string& out);

// --- Models (TorchScript, built with torch::jit::Module::define and saved to `path`) ---
// Input [B,3,H,W]; output [B,3]: the per-channel mean (class 0/1/2 = the channel order given to it).
void make_channel_mean_classifier(const std::string& path);
// Run options for a classifier like it: input on the 0..1 scale (mean 0, std 1), no activation,
// classes red/green/blue, top-1, `size` x `size` input, batch `batch`.
RunOptions channel_mean_options(const std::string& model, int size, int batch);
// The channel-mean classifier, but its forward reads a value of its batch on the host (an `if` on a
// GPU tensor), which a CUDA graph cannot record.
void make_host_reading_classifier(const std::string& path);
// Finds the bounding box of pixels brighter than 0.5 (input on the 0..1 scale, i.e. mean 0 std 1).
// Output (boxes [B,1,4] xyxy in input pixels, scores [B,1] = 0.9 if any pixel else 0, labels [B,1]=label).
void make_bright_box_detector(const std::string& path, int label = 0);
// The same box as a dense head: boxes [B,3,4] (the box, a copy shifted by 1 px, a box far away),
// class scores [B,3,2]: the box 0.9 for class 1, the copy 0.8 for class 1, the far box 0.1.
void make_bright_box_dense_detector(const std::string& path);
// Returns its input unchanged ([B,3,H,W]): fits no task.
void make_identity_model(const std::string& path);
// The channel-mean classifier, except that a frame whose mean over all channels is above
// `threshold` gets `value` ("nan" or "inf") for every class.
void make_nan_above_model(const std::string& path, double threshold, const std::string& value = "nan");
// The channel-mean classifier, except that a batch of more than `max_batch` frames raises the
// message LibTorch gives when CUDA runs out of memory (so the back-off can be tested on the CPU).
void make_oom_above_batch_model(const std::string& path, int max_batch);
// Flattens its input to [B, 3*size*size] (fails inside forward for any other input size), then the
// per-channel mean: a model that only takes size x size inputs.
// Takes bytes_per_frame of device memory per frame of its batch (zeroed scratch), for a real
// out-of-memory error at a batch size the test picks; outputs [N, 3] like the channel-mean classifier.
void make_memory_hungry_model(const std::string& path, int64_t bytes_per_frame);
void make_fixed_size_model(const std::string& path, int size);

}  // namespace vidinfer::test

namespace vidinfer::test::media {
// testsrc2 at 160x120, 30 fps, 2 s = 60 frames (unless said otherwise).
std::string h264_mp4();    // H.264 High, 2 B-frames, yuv420p, BT.709 tags
std::string hevc10_mkv();  // HEVC Main 10, yuv420p10le, Matroska
std::string vp9_webm();    // VP9, WebM
std::string h264_ts();     // H.264 in MPEG-TS (start time 1.4 s, as muxed by FFmpeg)
std::string audio_only();  // AAC in .m4a, no video
std::string audio_first(); // Matroska: stream 0 audio, stream 1 H.264 video
// 50 frames, lossless, frame i has luma 40 + 4*i everywhere (chroma neutral): checks order.
std::string counter(const std::string& codec /* "h264" | "hevc" */);
}  // namespace vidinfer::test::media
