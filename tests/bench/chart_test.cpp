// Bench charts: the PNG encoder checked by FFmpeg's PNG decoder (CRCs checked) and against the PNG and
// zlib specs (chunk CRCs and Adler-32 computed here the slow way, from their definitions); the chart
// checked by measuring its bars in the picture.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "bench/chart.h"
#include "support.h"
#include "common/av.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

namespace fs = std::filesystem;

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | b[at + 3];
}

// CRC-32 bit by bit, as PNG's spec (annex D) defines it.
uint32_t slow_crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

// Adler-32 as RFC 1950 defines it, one byte at a time.
uint32_t slow_adler32(const std::vector<uint8_t>& d) {
  uint32_t a = 1, b = 0;
  for (uint8_t x : d) a = (a + x) % 65521, b = (b + a) % 65521;
  return b << 16 | a;
}

RgbImage random_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  RgbImage img{w, h, std::vector<uint8_t>(size_t(w) * h * 3)};
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng());
  return img;
}

// Decodes PNG bytes with FFmpeg's PNG decoder, CRC checks on and fatal; returns packed RGB24.
RgbImage decode_with_ffmpeg(const std::vector<uint8_t>& png) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_PNG);
  UniqueAVCodecContext ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw Error("avcodec_alloc_context3 failed");
  ctx->err_recognition = AV_EF_CRCCHECK | AV_EF_EXPLODE;
  int rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) throw Error("cannot open FFmpeg's PNG decoder", {}, av_error_text(rc));
  auto pkt = make_av_packet();
  rc = av_new_packet(pkt.get(), static_cast<int>(png.size()));
  if (rc < 0) throw Error("av_new_packet failed", {}, av_error_text(rc));
  std::memcpy(pkt->data, png.data(), png.size());
  rc = avcodec_send_packet(ctx.get(), pkt.get());
  if (rc < 0) throw Error("FFmpeg's PNG decoder rejected the packet", {}, av_error_text(rc));
  avcodec_send_packet(ctx.get(), nullptr);
  auto frame = make_av_frame();
  rc = avcodec_receive_frame(ctx.get(), frame.get());
  if (rc < 0) throw Error("FFmpeg's PNG decoder returned no picture", {}, av_error_text(rc));
  if (frame->format != AV_PIX_FMT_RGB24)
    throw Error("FFmpeg decoded the PNG as", {}, av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format)));
  RgbImage out{frame->width, frame->height, std::vector<uint8_t>(size_t(frame->width) * frame->height * 3)};
  for (int y = 0; y < frame->height; ++y)
    std::memcpy(&out.rgb[size_t(y) * frame->width * 3], frame->data[0] + size_t(y) * frame->linesize[0],
                size_t(frame->width) * 3);
  return out;
}

#define REQUIRE_PNG_DECODER()                                                                           \
  do {                                                                                                  \
    if (!avcodec_find_decoder(AV_CODEC_ID_PNG)) GTEST_SKIP() << "this FFmpeg has no PNG decoder";       \
  } while (0)

// The index of the first byte where a and b differ, or -1.
long first_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  const auto m = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return m.first == a.end() && m.second == b.end() ? -1 : static_cast<long>(m.first - a.begin());
}

TEST(Png, FfmpegDecodesTheSamePixels) {
  REQUIRE_PNG_DECODER();
  // 257x301: odd width, 232372 bytes of rows = 4 stored blocks. 28x771 and 28x1542: rows of 85 bytes
  // filling exactly one and two full blocks of 65535. 1x1 and 3x2: tiny.
  for (auto [w, h] : {std::pair{257, 301}, {28, 771}, {28, 1542}, {1, 1}, {3, 2}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    const RgbImage img = random_image(w, h, static_cast<unsigned>(w * 1000 + h));
    RgbImage back;
    try {
      back = decode_with_ffmpeg(encode_png(img));
    } catch (const Error& e) {
      FAIL() << e.what();
    }
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(first_difference(back.rgb, img.rgb), -1) << "decoded pixels differ from those encoded";
  }
}

TEST(Png, FfmpegRejectsACorruptedPixelByte) {
  REQUIRE_PNG_DECODER();
  // Shows the round trip above would notice bad checksums: one pixel byte changed, CRC left as it was.
  auto png = encode_png(random_image(65, 40, 7));
  png[png.size() - 12 - 4 - 4 - 100] ^= 0x40;  // inside the IDAT data, before the Adler-32 and CRC
  EXPECT_THROW(decode_with_ffmpeg(png), Error);
}

TEST(Png, ChunksAndStoredBlocksFollowTheSpecs) {
  const int w = 257, h = 301;
  const RgbImage img = random_image(w, h, 3);
  const auto png = encode_png(img);
  const std::vector<uint8_t> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  ASSERT_GT(png.size(), 8u);
  EXPECT_TRUE(std::equal(signature.begin(), signature.end(), png.begin()));

  std::vector<std::string> types;
  std::vector<uint8_t> ihdr, idat;
  for (size_t at = 8; at < png.size();) {
    ASSERT_LE(at + 12, png.size());
    const uint32_t len = be32(png, at);
    ASSERT_LE(at + 12 + len, png.size());
    types.emplace_back(png.begin() + at + 4, png.begin() + at + 8);
    EXPECT_EQ(be32(png, at + 8 + len), slow_crc32(&png[at + 4], len + 4)) << "CRC of chunk " << types.back();
    std::vector<uint8_t> data(png.begin() + at + 8, png.begin() + at + 8 + len);
    if (types.back() == "IHDR") ihdr = data;
    if (types.back() == "IDAT") idat.insert(idat.end(), data.begin(), data.end());
    at += 12 + len;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  // IEND's bytes are the same in every PNG, CRC included.
  const std::vector<uint8_t> iend = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  EXPECT_TRUE(std::equal(iend.begin(), iend.end(), png.end() - 12));
  ASSERT_EQ(ihdr.size(), 13u);
  EXPECT_EQ(be32(ihdr, 0), uint32_t(w));
  EXPECT_EQ(be32(ihdr, 4), uint32_t(h));
  EXPECT_EQ(std::vector<uint8_t>(ihdr.begin() + 8, ihdr.end()), (std::vector<uint8_t>{8, 2, 0, 0, 0}));

  // zlib header, then stored blocks whose payloads are the rows, each with filter byte 0.
  ASSERT_GT(idat.size(), 6u);
  EXPECT_EQ(idat[0] & 0x0f, 8) << "CM = deflate";
  EXPECT_EQ((idat[0] << 8 | idat[1]) % 31, 0) << "FCHECK";
  EXPECT_EQ(idat[1] & 0x20, 0) << "no preset dictionary";
  std::vector<uint8_t> raw;
  size_t at = 2;
  int blocks = 0;
  bool final_seen = false;
  while (!final_seen) {
    ASSERT_LE(at + 5, idat.size());
    const uint8_t hdr = idat[at];
    final_seen = hdr & 1;
    EXPECT_EQ(hdr, final_seen ? 1 : 0) << "BTYPE 00 (stored), block " << blocks;
    const unsigned len = idat[at + 1] | idat[at + 2] << 8, nlen = idat[at + 3] | idat[at + 4] << 8;
    EXPECT_EQ(len ^ 0xffffu, nlen) << "NLEN, block " << blocks;
    ASSERT_LE(at + 5 + len, idat.size());
    raw.insert(raw.end(), idat.begin() + at + 5, idat.begin() + at + 5 + len);
    at += 5 + len;
    ++blocks;
  }
  EXPECT_EQ(blocks, 4) << "232372 bytes of rows take 4 blocks of at most 65535";
  ASSERT_EQ(at + 4, idat.size()) << "the Adler-32 ends the stream";
  EXPECT_EQ(be32(idat, at), slow_adler32(raw));
  std::vector<uint8_t> expected;
  for (int y = 0; y < h; ++y) {
    expected.push_back(0);
    expected.insert(expected.end(), img.rgb.begin() + size_t(y) * w * 3, img.rgb.begin() + size_t(y + 1) * w * 3);
  }
  EXPECT_EQ(first_difference(raw, expected), -1);
}

TEST(Png, RejectsABufferThatDoesNotMatchItsSize) {
  EXPECT_THROW(encode_png(RgbImage{2, 2, std::vector<uint8_t>(11)}), Error);
  EXPECT_THROW(encode_png(RgbImage{0, 2, {}}), Error);
  try {
    encode_png(RgbImage{2, 2, std::vector<uint8_t>(11)});
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cannot encode PNG: 11 bytes for a 2x2 RGB picture (expected 12)");
  }
}

// (test::TempDir removes with nftw: PyTorch 2.11's libtorch.so exports a std::filesystem::remove_all
// of its own that crashed these tests on the GPU machine.)
using test::TempDir;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(WritePng, WritesTheEncodedBytesAndLeavesNoPartialFile) {
  TempDir dir;
  const std::string path = dir.file("chart.png");
  const RgbImage img = random_image(31, 17, 5);
  write_png(path, img);
  EXPECT_EQ(read_file(path), encode_png(img));
  EXPECT_FALSE(fs::exists(path + ".part"));
  write_png(path, random_image(4, 4, 6));  // over an existing file
  EXPECT_EQ(read_file(path), encode_png(random_image(4, 4, 6)));
}

TEST(WritePng, AMissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/chart.png");
  try {
    write_png(path, random_image(3, 3, 1));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.input(), path);
    EXPECT_EQ(msg.rfind(path + ": cannot write PNG: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(path));
  // A bad picture is reported with the path too.
  try {
    write_png(dir.file("bad.png"), RgbImage{2, 2, {}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.input(), dir.file("bad.png"));
  }
  EXPECT_FALSE(fs::exists(dir.file("bad.png")));
  EXPECT_FALSE(fs::exists(dir.file("bad.png.part")));
}

TEST(WritePng, AFailedRenameLeavesNoPartialFile) {
  TempDir dir;
  const std::string path = dir.file("taken.png");
  fs::create_directory(path);  // a file cannot be renamed over a directory
  try {
    write_png(path, random_image(3, 3, 1));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": cannot write PNG: renaming " + path + ".part: ", 0), 0u) << msg;
  }
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_FALSE(fs::exists(path + ".part"));
}

// --- The chart, measured in its pixels ---

using Colour = std::array<uint8_t, 3>;

Colour pixel(const RgbImage& img, int x, int y) {
  const uint8_t* p = &img.rgb[(size_t(y) * img.width + x) * 3];
  return {p[0], p[1], p[2]};
}
bool saturated(const Colour& c) {
  return *std::max_element(c.begin(), c.end()) - *std::min_element(c.begin(), c.end()) > 30;
}

struct Bar {
  int x0, x1;  // columns [x0, x1]
  int top, height;
};

// Bars are the column runs of one saturated colour that end on the lowest row any saturated pixel
// reaches (the baseline); legend swatches, also in series colours, end higher. Colours are listed in
// the order of their leftmost bar.
struct Bars {
  int baseline = -1;
  std::vector<Colour> colours;
  std::map<Colour, std::vector<Bar>> of;
};
Bars find_bars(const RgbImage& img) {
  std::map<Colour, std::vector<int>> bottom, run;
  for (int x = 0; x < img.width; ++x)
    for (int y = img.height - 1; y >= 0; --y) {
      const Colour c = pixel(img, x, y);
      if (!saturated(c)) continue;
      auto& b = bottom[c];
      if (b.empty()) b.assign(img.width, -1), run[c].assign(img.width, 0);
      if (b[x] != -1) continue;
      b[x] = y;
      int r = 0;
      while (y - r >= 0 && pixel(img, x, y - r) == c) ++r;
      run[c][x] = r;
    }
  Bars out;
  for (const auto& [c, b] : bottom) out.baseline = std::max(out.baseline, *std::max_element(b.begin(), b.end()));
  for (const auto& [c, b] : bottom) {
    std::vector<Bar> bars;
    for (int x = 0; x < img.width; ++x) {
      if (b[x] != out.baseline) continue;
      if (!bars.empty() && bars.back().x1 == x - 1) {
        bars.back().x1 = x;
        EXPECT_EQ(run.at(c)[x], bars.back().height) << "a bar's top is flat, column " << x;
      } else {
        bars.push_back({x, x, out.baseline - run.at(c)[x] + 1, run.at(c)[x]});
      }
    }
    if (!bars.empty()) out.of[c] = bars;
  }
  for (const auto& [c, bars] : out.of) out.colours.push_back(c);
  std::sort(out.colours.begin(), out.colours.end(),
            [&](const Colour& a, const Colour& b) { return out.of[a][0].x0 < out.of[b][0].x0; });
  return out;
}

// Rows where a light grey runs across much of the picture.
std::vector<int> gridlines(const RgbImage& img) {
  std::vector<int> rows;
  for (int y = 0; y < img.height; ++y) {
    int n = 0;
    for (int x = 0; x < img.width; ++x) {
      const Colour p = pixel(img, x, y);
      n += p[0] == p[1] && p[1] == p[2] && p[0] > 180 && p[0] < 250;
    }
    if (n > img.width / 5) rows.push_back(y);
  }
  return rows;
}

BarChart fps_chart() {
  BarChart c;
  c.title = "vidinfer bench: fps";
  c.y_label = "frames per second";
  c.groups = {"960 frames", "5520 frames"};
  c.series = {"baseline", "vidinfer", "model only"};
  c.values = {{100, 200, 400}, {300, std::nan(""), 50}};
  return c;
}

TEST(BarChart, BarHeightsAreProportionalToTheValues) {
  const BarChart c = fps_chart();
  const RgbImage img = render_bar_chart(c);
  ASSERT_EQ(img.width, 1200);
  ASSERT_EQ(img.height, 640);
  ASSERT_EQ(img.rgb.size(), 1200u * 640 * 3);
  Bars bars = find_bars(img);
  ASSERT_EQ(bars.colours.size(), 3u) << "one distinct colour per series";
  // Series in order of their first bar (group 0 has all three); the NaN leaves series 1 one bar.
  const auto& s0 = bars.of[bars.colours[0]];
  const auto& s1 = bars.of[bars.colours[1]];
  const auto& s2 = bars.of[bars.colours[2]];
  ASSERT_EQ(s0.size(), 2u);
  ASSERT_EQ(s1.size(), 1u) << "NaN draws no bar";
  ASSERT_EQ(s2.size(), 2u);
  EXPECT_LT(s0[0].x1, s1[0].x0);
  EXPECT_LT(s1[0].x1, s2[0].x0);
  EXPECT_LT(s2[0].x1, s0[1].x0) << "group 1 to the right of group 0";
  EXPECT_LT(s0[1].x1, s2[1].x0);
  EXPECT_EQ(s0[0].x1 - s0[0].x0, s2[1].x1 - s2[1].x0) << "bars have one width";

  const double px_per_unit = s2[0].height / 400.0;
  EXPECT_GT(s2[0].height, img.height / 2) << "the largest value takes most of the height";
  EXPECT_NEAR(s1[0].height, 2 * s0[0].height, 2) << "200 is twice 100";
  EXPECT_NEAR(s2[0].height, 4 * s0[0].height, 2) << "400 is four times 100";
  EXPECT_NEAR(s0[1].height, 300 * px_per_unit, 2);
  EXPECT_NEAR(s2[1].height, 50 * px_per_unit, 2);

  // A value label (dark ink) just above every bar.
  for (const Bar& b : {s0[0], s0[1], s1[0], s2[0], s2[1]}) {
    int ink = 0;
    for (int y = std::max(0, b.top - 25); y < b.top; ++y)
      for (int x = b.x0; x <= b.x1; ++x) {
        const Colour p = pixel(img, x, y);
        ink += *std::max_element(p.begin(), p.end()) < 100;
      }
    EXPECT_GT(ink, 20) << "label above the bar at x " << b.x0;
  }

  // Gridlines: rows where a light grey spans much of the plot, evenly spaced, one at each round
  // tick; the 400 bar ends on one of them, and a tick is 1, 2 or 5 x 10^k.
  const std::vector<int> grid = gridlines(img);
  ASSERT_GE(grid.size(), 3u);
  for (size_t i = 2; i < grid.size(); ++i) EXPECT_NEAR(grid[i] - grid[i - 1], grid[1] - grid[0], 1);
  EXPECT_NE(std::find(grid.begin(), grid.end(), s2[0].top), grid.end()) << "400 is on a tick";
  const double spacing = double(grid.back() - grid.front()) / (grid.size() - 1);
  const double tick = 400.0 / std::lround(s2[0].height / spacing);
  const double mantissa = tick / std::pow(10.0, std::floor(std::log10(tick) + 1e-9));
  EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-6 || std::fabs(mantissa - 2) < 1e-6 || std::fabs(mantissa - 5) < 1e-6)
      << "tick step " << tick;
}

TEST(BarChart, ZeroMissingAndEmptyChartsDrawWithoutBars) {
  BarChart c = fps_chart();
  c.values = {{0, 0, 0}, {0, std::nan(""), 0}};
  for (const auto& chart : {c, BarChart{"nothing measured", "fps", {"a", "b"}, {"x"}, {{std::nan("")}, {std::nan("")}}},
                            BarChart{"", "", {}, {}, {}}, BarChart{"no series", "", {"a"}, {}, {{}}}}) {
    SCOPED_TRACE(chart.title);
    RgbImage img;
    ASSERT_NO_THROW(img = render_bar_chart(chart, 640, 400));
    ASSERT_EQ(img.rgb.size(), 640u * 400 * 3);
    // Only the legend swatches (near the top) are in colour.
    int lowest = -1;
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x)
        if (saturated(pixel(img, x, y))) lowest = y;
    EXPECT_LT(lowest, img.height / 4);
    // The axis still has round, evenly spaced ticks (0 .. 1).
    const auto grid = gridlines(img);
    ASSERT_GE(grid.size(), 3u);
    for (size_t i = 2; i < grid.size(); ++i) EXPECT_NEAR(grid[i] - grid[i - 1], grid[1] - grid[0], 1);
  }
}

TEST(BarChart, ManySeriesGetDistinctColours) {
  BarChart c{"many", "fps", {"g"}, {}, {{}}};
  for (int i = 0; i < 14; ++i) {
    c.series.push_back("s" + std::to_string(i));
    c.values[0].push_back(10.0 * (i + 1));
  }
  const Bars bars = find_bars(render_bar_chart(c));
  EXPECT_EQ(bars.colours.size(), 14u);
}

std::string error_of(const BarChart& c, int w = 1200, int h = 640) {
  try {
    render_bar_chart(c, w, h);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BarChart, BadInputIsAOneLineError) {
  BarChart c = fps_chart();
  c.values.pop_back();
  EXPECT_EQ(error_of(c), "cannot draw bar chart \"vidinfer bench: fps\": groups has 2 entries but values has 1");
  c = fps_chart();
  c.values[1].push_back(1);
  EXPECT_EQ(error_of(c), "cannot draw bar chart \"vidinfer bench: fps\": values[1] has 4 entries but series has 3");
  c = fps_chart();
  c.values[0][2] = -1;
  EXPECT_EQ(error_of(c),
            "cannot draw bar chart \"vidinfer bench: fps\": "
            "values[0][2] is -1 (must be in 0 .. 1e15, or NaN for no bar)");
  c.values[0][2] = INFINITY;
  EXPECT_NE(error_of(c).find("values[0][2] is inf"), std::string::npos);
  c.values[0][2] = 2e15;
  EXPECT_NE(error_of(c).find("values[0][2] is 2e+15 ("), std::string::npos);
  c.values[0] = {1e15, 1e-300, 4.9e-324};  // the extremes allowed draw
  EXPECT_EQ(error_of(c), "(no error)");
  c.values = {{1e-300, 1e-300, 0}, {4.9e-324, 0, 0}};
  EXPECT_EQ(error_of(c), "(no error)");
  c = fps_chart();
  EXPECT_EQ(error_of(c, 100, 640),
            "cannot draw bar chart \"vidinfer bench: fps\": size 100x640 is outside 320x200 .. 16384x16384");
  EXPECT_NE(error_of(c, 1200, -5).find("size 1200x-5"), std::string::npos);
  c.groups.assign(400, "g");
  c.values.assign(400, {1, 2, 3});
  EXPECT_EQ(error_of(c, 640, 400),
            "cannot draw bar chart \"vidinfer bench: fps\": too many bars (400 groups x 3 series) for a width of 640");
}

}  // namespace
}  // namespace vidinfer
