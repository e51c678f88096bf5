#include "support.h"

#include <torch/script.h>
#include <ftw.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <utility>

#include "decode/decoder.h"
#include "demux/demuxer.h"
#include "vidinfer/error.h"

#ifndef VIDINFER_TEST_DATA_DIR
#error "VIDINFER_TEST_DATA_DIR must be defined"
#endif

namespace fs = std::filesystem;

namespace vidinfer::test {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string sh(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string clip(const std::string& name, const std::string& ext, const std::string& ffmpeg_args) {
  const fs::path dir = fs::path(VIDINFER_TEST_DATA_DIR) / "media";
  fs::create_directories(dir);
  // The cache key must not depend on where the checkout and the build tree are (clips made here are
  // carried to the GPU machine, whose FFmpeg cannot encode, and whose checkout lies elsewhere): paths
  // under the test data folder, the build tree and the source tree count relative to them, the most
  // specific first (the build tree is usually inside the source tree).
  std::string key = ffmpeg_args + ext;
  for (const auto& [dir_path, name] : {std::pair<std::string, std::string>{VIDINFER_TEST_DATA_DIR, "<testdata>"},
                                       {VIDINFER_TEST_BUILD_DIR, "<build>"},
                                       {VIDINFER_TEST_SOURCE_DIR, "<source>"}})
    for (size_t at; (at = key.find(dir_path)) != std::string::npos;) key.replace(at, dir_path.size(), name);
  const auto h = std::hash<std::string>{}(key);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", h);
  const fs::path out = dir / (name + "-" + std::string(hex).substr(0, 10) + "." + ext);
  if (fs::exists(out)) return out.string();
  // Made under a unique name and renamed into place: concurrent test processes never see half a file.
  const fs::path tmp = dir / (name + "-" + std::to_string(getpid()) + ".tmp." + ext);
  int rc = 0;
  const std::string log = sh("ffmpeg -y -hide_banner -loglevel error -nostdin " + ffmpeg_args + " " + q(tmp.string()), &rc);
  if (rc != 0) {
    ::remove(tmp.c_str());
    // The GPU machine's FFmpeg has no encoders and no lavfi: its clips come from scripts/gpu-prepare.
    throw std::runtime_error("ffmpeg failed making " + name + " (" + out.filename().string() + ", not in " +
                             dir.string() + "; on a machine whose ffmpeg cannot make it, run ./scripts/test and " +
                             "scripts/gpu-prepare where it can, and carry .gpu): " + log);
  }
  fs::rename(tmp, out);
  return out.string();
}

std::string data_file(const std::string& name) {
  const fs::path dir = fs::path(VIDINFER_TEST_DATA_DIR) / "media";
  fs::create_directories(dir);
  return (dir / name).string();
}

TempDir::TempDir() {
  const fs::path base = fs::path(VIDINFER_TEST_DATA_DIR) / "tmp";
  fs::create_directories(base);
  std::string templ = (base / "t-XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }
}  // namespace

TempDir::~TempDir() {
  // nftw, not std::filesystem::remove_all: PyTorch 2.11's libtorch.so exports a remove_all of its own
  // that crashes, and it wins at dynamic link time.
  nftw(path_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

nlohmann::json ffprobe_stream(const std::string& path) {
  int rc = 0;
  const std::string out = sh("ffprobe -v error -select_streams v:0 -count_packets -show_streams -of json " + q(path), &rc);
  if (rc != 0) throw std::runtime_error("ffprobe failed on " + path + ": " + out);
  return nlohmann::json::parse(out).at("streams").at(0);
}

std::vector<ProbeFrame> ffprobe_frames(const std::string& path) {
  int rc = 0;
  const std::string out = sh("ffprobe -v error -select_streams v:0 -show_entries "
                             "frame=best_effort_timestamp_time,width,height -of json " + q(path), &rc);
  if (rc != 0) throw std::runtime_error("ffprobe failed on " + path + ": " + out);
  std::vector<ProbeFrame> frames;
  const auto doc = nlohmann::json::parse(out);
  for (const auto& f : doc.at("frames")) {
    ProbeFrame p;
    p.pts = std::stod(f.at("best_effort_timestamp_time").get<std::string>());
    p.width = f.at("width").get<int>();
    p.height = f.at("height").get<int>();
    frames.push_back(p);
  }
  return frames;
}

Decoded decode_all(const std::string& path) {
  Demuxer demux(path);
  auto dec = make_cpu_decoder(demux.stream(), path, 0);
  Decoded out;
  auto pkt = make_av_packet();
  auto frame = make_av_frame();
  auto take = [&] {
    while (dec->receive(frame.get())) {
      UniqueAVFrame copy(av_frame_clone(frame.get()));
      out.pts.push_back(demux.to_seconds(frame->best_effort_timestamp));
      out.frames.push_back(std::move(copy));
    }
  };
  while (demux.read(pkt.get())) {
    dec->send(pkt.get());
    take();
  }
  dec->send(nullptr);
  take();
  out.packets_corrupt = dec->packets_corrupt();
  return out;
}

std::string join_files(const std::string& first, const std::string& second, const std::string& out) {
  auto bytes = read_bytes(first);
  const auto tail = read_bytes(second);
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  write_bytes(out, bytes);
  return out;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& data) {
  // Through a temporary and rename: parallel tests may write the same input file at once.
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
  }
  fs::rename(tmp, path);
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

namespace {
uint32_t crc32_of(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}
void put(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
}  // namespace

void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<uint8_t> out, cd;
  for (const auto& [name, data] : entries) {
    const uint32_t crc = crc32_of(data);
    const size_t offset = out.size();
    // Local header: signature, version 2.0, no flags, stored, no time/date, crc, sizes, name.
    put(out, 0x04034b50, 4); put(out, 20, 2); put(out, 0, 2); put(out, 0, 2); put(out, 0, 4);
    put(out, crc, 4); put(out, data.size(), 4); put(out, data.size(), 4); put(out, name.size(), 2); put(out, 0, 2);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), data.begin(), data.end());
    put(cd, 0x02014b50, 4); put(cd, 20, 2); put(cd, 20, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 4);
    put(cd, crc, 4); put(cd, data.size(), 4); put(cd, data.size(), 4); put(cd, name.size(), 2); put(cd, 0, 2);
    put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 4); put(cd, offset, 4);
    cd.insert(cd.end(), name.begin(), name.end());
  }
  const size_t cd_offset = out.size();
  out.insert(out.end(), cd.begin(), cd.end());
  put(out, 0x06054b50, 4); put(out, 0, 2); put(out, 0, 2); put(out, entries.size(), 2); put(out, entries.size(), 2);
  put(out, cd.size(), 4); put(out, cd_offset, 4); put(out, 0, 2);
  write_bytes(path, out);
}

void write_fake_aoti_package(const std::string& path, const std::string& metadata_json) {
  const std::string a = fs::path(path).stem().string() + "/";
  write_zip(path, {{a + "archive_format", "pt2"},
                   {a + "data/aotinductor/model/cabc.wrapper.cpp", "// wrapper"},
                   {a + "data/aotinductor/model/cabc.wrapper_metadata.json", metadata_json},
                   {a + "data/aotinductor/model/cabc.wrapper.so", std::string(256, '\0')},
                   {a + "version", "0"}});
}

namespace {
void save(torch::jit::Module& m, const std::string& src, const std::string& path) {
  m.define(src);
  m.save(path);
}
}  // namespace

void make_channel_mean_classifier(const std::string& path) {
  torch::jit::Module m("ChannelMean");
  save(m, R"JIT(
def forward(self, x):
    return x.float().mean(dim=[2, 3])
)JIT", path);
}

void make_host_reading_classifier(const std::string& path) {
  torch::jit::Module m("HostReading");
  save(m, R"JIT(
def forward(self, x):
    m = x.float().mean(dim=[2, 3])
    if bool((m > 2.0).any()):
        m = m * 0.5
    return m
)JIT", path);
}

static const char* kBrightBox = R"JIT(
def box(self, x):
    m = x.float().mean(1) > 0.5
    B = x.size(0)
    H = x.size(2)
    W = x.size(3)
    rows = m.any(2)
    cols = m.any(1)
    ys = torch.arange(H, device=x.device).unsqueeze(0).expand(B, H)
    xs = torch.arange(W, device=x.device).unsqueeze(0).expand(B, W)
    y1 = ys.masked_fill(~rows, H).min(1)[0]
    y2 = ys.masked_fill(~rows, -1).max(1)[0] + 1
    x1 = xs.masked_fill(~cols, W).min(1)[0]
    x2 = xs.masked_fill(~cols, -1).max(1)[0] + 1
    found = rows.any(1)
    return torch.stack([x1, y1, x2, y2], 1).float(), found
)JIT";

void make_bright_box_detector(const std::string& path, int label) {
  torch::jit::Module m("BrightBox");
  m.define(kBrightBox);
  save(m, R"JIT(
def forward(self, x):
    b, found = self.box(x)
    scores = found.float().unsqueeze(1) * 0.9
    labels = found.long().unsqueeze(1) * 0 + )JIT" + std::to_string(label) + R"JIT(
    return (b.unsqueeze(1), scores, labels)
)JIT", path);
}

void make_bright_box_dense_detector(const std::string& path) {
  torch::jit::Module m("BrightBoxDense");
  m.define(kBrightBox);
  save(m, R"JIT(
def forward(self, x):
    b, found = self.box(x)
    B = x.size(0)
    shifted = b + 1.0
    far = torch.tensor([[0.0, 0.0, 2.0, 2.0]], device=x.device).expand(B, 4)
    boxes = torch.stack([b, shifted, far], 1)
    f = found.float()
    s1 = torch.stack([torch.zeros_like(f), f * 0.9], 1)
    s2 = torch.stack([torch.zeros_like(f), f * 0.8], 1)
    s3 = torch.stack([torch.zeros_like(f) + 0.1, torch.zeros_like(f) + 0.1], 1)
    return (boxes, torch.stack([s1, s2, s3], 1))
)JIT", path);
}

void make_nan_above_model(const std::string& path, double threshold, const std::string& value) {
  torch::jit::Module m("NanAbove");
  save(m, R"JIT(
def forward(self, x):
    out = x.float().mean(dim=[2, 3])
    bad = out.mean(dim=1, keepdim=True) > )JIT" + std::to_string(threshold) + R"JIT(
    return torch.where(bad, torch.full_like(out, float(')JIT" + value + R"JIT(')), out)
)JIT", path);
}

void make_oom_above_batch_model(const std::string& path, int max_batch) {
  torch::jit::Module m("OomAbove");
  save(m, R"JIT(
def forward(self, x):
    assert x.size(0) <= )JIT" + std::to_string(max_batch) + R"JIT(, "CUDA out of memory. Tried to allocate 2.00 GiB (simulated by the test model)"
    return x.float().mean(dim=[2, 3])
)JIT", path);
}

RunOptions channel_mean_options(const std::string& model, int size, int batch) {
  RunOptions o;
  o.model_path = model;
  o.task = Task::Classify;
  o.spec.width = o.spec.height = size;
  o.spec.mean = {0, 0, 0};
  o.spec.std = {1, 1, 1};
  o.spec.class_activation = Activation::None;
  o.spec.batch = batch;
  o.labels = {"red", "green", "blue"};
  o.topk = 1;
  return o;
}

void make_memory_hungry_model(const std::string& path, int64_t bytes_per_frame) {
  torch::jit::Module m("MemoryHungry");
  save(m, R"JIT(
def forward(self, x):
    scratch = x.float().new_zeros([x.size(0), )JIT" + std::to_string(std::max<int64_t>(bytes_per_frame / 4, 3)) + R"JIT(])
    return x.float().mean(dim=[2, 3]) + scratch[:, :3]
)JIT", path);
}

void make_fixed_size_model(const std::string& path, int size) {
  torch::jit::Module m("FixedSize");
  save(m, R"JIT(
def forward(self, x):
    flat = x.float().reshape([x.size(0), )JIT" + std::to_string(3 * size * size) + R"JIT(])
    return flat.reshape([x.size(0), 3, -1]).mean(dim=2)
)JIT", path);
}

void make_identity_model(const std::string& path) {
  torch::jit::Module m("Identity");
  save(m, R"JIT(
def forward(self, x):
    return x
)JIT", path);
}

}  // namespace vidinfer::test

namespace vidinfer::test::media {

namespace {
const std::string kSrc = "-f lavfi -i testsrc2=size=160x120:rate=30:duration=2 ";
}

std::string h264_mp4() {
  return clip("h264", "mp4", kSrc + "-c:v libx264 -preset ultrafast -bf 2 -g 30 -pix_fmt yuv420p "
              "-colorspace bt709 -color_primaries bt709 -color_trc bt709 -color_range tv");
}
std::string hevc10_mkv() {
  return clip("hevc10", "mkv", kSrc + "-c:v libx265 -preset ultrafast -pix_fmt yuv420p10le "
              "-x265-params log-level=error");
}
std::string vp9_webm() {
  return clip("vp9", "webm", kSrc + "-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k -pix_fmt yuv420p");
}
std::string h264_ts() {
  return clip("h264", "ts", kSrc + "-c:v libx264 -preset ultrafast -bf 2 -g 30 -pix_fmt yuv420p");
}
std::string audio_only() {
  return clip("audio", "m4a", "-f lavfi -i sine=frequency=440:duration=1 -c:a aac");
}
std::string audio_first() {
  return clip("audio-first", "mkv", "-f lavfi -i sine=frequency=440:duration=2 " + kSrc +
              "-map 0:a -map 1:v -c:a aac -c:v libx264 -preset ultrafast -pix_fmt yuv420p");
}
std::string counter(const std::string& codec) {
  const std::string src = "-f lavfi -i color=c=black:size=64x64:rate=25:duration=2,"
                          "geq=lum='40+4*N':cb=128:cr=128,format=yuv420p ";
  if (codec == "hevc")
    return clip("counter-hevc", "mkv", src + "-c:v libx265 -preset ultrafast -x265-params lossless=1:bframes=3:log-level=error");
  return clip("counter-h264", "mp4", src + "-c:v libx264 -preset ultrafast -qp 0 -bf 2 -g 10");
}

}  // namespace vidinfer::test::media
