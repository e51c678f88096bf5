// Bar charts for vidinfer bench (bench/chart.h): the picture drawn (title, legend, y axis with round
// ticks, clusters of bars with their values, group names), and the hand-written PNG encoder.
#include "bench/chart.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <system_error>
#include <utility>

#include "output/font5x7.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

// Text, axes and grid are greys on the white background; series colours are saturated, so a bar is
// never mistaken for them.
constexpr Rgb kInk{33, 33, 33};
constexpr Rgb kAxis{90, 90, 90};
constexpr Rgb kGrid{222, 222, 222};

// Tableau's 10 colours without its grey; further series get hues spaced by the golden angle.
Rgb series_colour(size_t i) {
  static constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                     {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {188, 189, 34},
                                     {23, 190, 207},  {106, 61, 154}};
  constexpr size_t n = sizeof kPalette / sizeof kPalette[0];
  if (i < n) return kPalette[i];
  const double h = std::fmod(static_cast<double>(i) * 137.508, 360.0) / 60.0, s = 0.7, v = 0.8;
  const double c = v * s, x = c * (1 - std::fabs(std::fmod(h, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  switch (static_cast<int>(h)) {
    case 0: r = c, g = x; break;
    case 1: r = x, g = c; break;
    case 2: g = c, b = x; break;
    case 3: g = x, b = c; break;
    case 4: r = x, b = c; break;
    default: r = c, b = x; break;
  }
  auto u8 = [m](double t) { return static_cast<uint8_t>(std::lround((t + m) * 255)); };
  return {u8(r), u8(g), u8(b)};
}

// Width in pixels of n characters of the 5x7 font at `scale` (6 columns a character, the last
// character's blank column left out).
int text_width(size_t n, int scale) { return n == 0 ? 0 : (6 * static_cast<int>(n) - 1) * scale; }

// s, or as much of it as fits in max_px followed by "..".
std::string fit(const std::string& s, int max_px, int scale) {
  if (text_width(s.size(), scale) <= max_px) return s;
  size_t n = s.size();
  while (n > 0 && text_width(n + 2, scale) > max_px) --n;
  return n == 0 ? std::string() : s.substr(0, n) + "..";
}

// The largest scale in [1, max_scale] at which every string fits in max_px (1 when none does).
int scale_to_fit(const std::vector<std::string>& texts, int max_px, int max_scale) {
  for (int s = max_scale; s > 1; --s) {
    bool all = true;
    for (const auto& t : texts) all = all && text_width(t.size(), s) <= max_px;
    if (all) return s;
  }
  return 1;
}

// The round step (1, 2 or 5 x 10^k) at or above raw.
double nice_step(double raw) {
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  return (f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10) * p;
}

std::string format_number(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

class Canvas {
 public:
  Canvas(int width, int height) : img_{width, height, std::vector<uint8_t>(size_t(width) * height * 3, 255)} {}

  // Fills columns [x0, x1) of rows [y0, y1), clipped to the picture.
  void fill(int x0, int y0, int x1, int y1, Rgb c) {
    x0 = std::clamp(x0, 0, img_.width), x1 = std::clamp(x1, 0, img_.width);
    y0 = std::clamp(y0, 0, img_.height), y1 = std::clamp(y1, 0, img_.height);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        uint8_t* p = &img_.rgb[(size_t(y) * img_.width + x) * 3];
        p[0] = c.r, p[1] = c.g, p[2] = c.b;
      }
  }

  // Text with its top-left corner at (x, y); up = rotated a quarter turn anticlockwise (read bottom
  // to top), (x, y) then being the top-left of the rotated box.
  void text(int x, int y, const std::string& s, int scale, Rgb c, bool up = false) {
    const int w = text_width(s.size(), 1);
    for (size_t i = 0; i < s.size(); ++i) {
      const auto& g = font5x7::glyph(s[i]);
      for (int r = 0; r < 7; ++r)
        for (int k = 0; k < 5; ++k) {
          if (g.rows[r][k] != '#') continue;
          const int col = 6 * static_cast<int>(i) + k;
          const int px = up ? r : col, py = up ? w - 1 - col : r;
          fill(x + px * scale, y + py * scale, x + (px + 1) * scale, y + (py + 1) * scale, c);
        }
    }
  }

  RgbImage take() { return std::move(img_); }

 private:
  RgbImage img_;
};

// Bounds that keep the axis arithmetic finite: labels of up to 16 digits, and an axis of at
// least 0 .. 1e-6 (tinier values draw as zero-height bars).
constexpr double kMaxValue = 1e15, kMinAxis = 1e-6;

// The "what failed" of every error about chart c.
std::string cannot_draw(const BarChart& c) {
  return "cannot draw bar chart" + (c.title.empty() ? std::string() : " \"" + c.title + "\"");
}

void validate(const BarChart& c, int width, int height) {
  const std::string what = cannot_draw(c);
  if (width < 320 || height < 200 || width > 16384 || height > 16384)
    throw Error(what, {}, "size " + std::to_string(width) + "x" + std::to_string(height) +
                              " is outside 320x200 .. 16384x16384");
  if (c.values.size() != c.groups.size())
    throw Error(what, {}, "groups has " + std::to_string(c.groups.size()) + " entries but values has " +
                              std::to_string(c.values.size()));
  for (size_t g = 0; g < c.values.size(); ++g) {
    if (c.values[g].size() != c.series.size())
      throw Error(what, {}, "values[" + std::to_string(g) + "] has " + std::to_string(c.values[g].size()) +
                                " entries but series has " + std::to_string(c.series.size()));
    for (size_t s = 0; s < c.values[g].size(); ++s) {
      const double v = c.values[g][s];
      if (std::isnan(v) || (v >= 0 && v <= kMaxValue)) continue;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", v);
      throw Error(what, {}, "values[" + std::to_string(g) + "][" + std::to_string(s) + "] is " + buf +
                                " (must be in 0 .. 1e15, or NaN for no bar)");
    }
  }
}

// Layout of every chart, in pixels: the margin, the scale of the text, a line of text, a legend
// swatch, and the gap between legend entries.
constexpr int kPad = 16, kScale = 2, kLine = 7 * kScale, kSwatch = kLine, kLegendGap = 28;

// Draws the title and the legend at the top of the picture; returns the first row below them.
// `legend_rows`: the rows the legend took.
int draw_heading(Canvas& cv, const BarChart& c, int width, size_t* legend_rows) {
  const size_t n_series = c.series.size();
  // Top: title (as large as fits), then the legend in centred rows, then room for the value labels.
  const int title_scale = scale_to_fit({c.title}, width - 2 * kPad, 3);
  const std::string title = fit(c.title, width - 2 * kPad, title_scale);
  int y = kPad;
  if (!title.empty()) {
    cv.text((width - text_width(title.size(), title_scale)) / 2, y, title, title_scale, kInk);
    y += 7 * title_scale + 14;
  }
  std::vector<std::string> names;
  for (const auto& s : c.series) names.push_back(fit(s, width - 2 * kPad - kSwatch - 8, kScale));
  std::vector<std::pair<size_t, size_t>> rows;  // [first, last) entries of each legend row
  std::vector<int> row_widths;
  for (size_t i = 0; i < n_series; ++i) {
    const int w = kSwatch + 8 + text_width(names[i].size(), kScale);
    if (rows.empty() || row_widths.back() + kLegendGap + w > width - 2 * kPad) {
      rows.push_back({i, i});
      row_widths.push_back(-kLegendGap);
    }
    rows.back().second = i + 1;
    row_widths.back() += kLegendGap + w;
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    int x = (width - row_widths[r]) / 2;
    for (size_t i = rows[r].first; i < rows[r].second; ++i) {
      cv.fill(x, y, x + kSwatch, y + kSwatch, series_colour(i));
      cv.text(x + kSwatch + 8, y, names[i], kScale, kInk);
      x += kSwatch + 8 + text_width(names[i].size(), kScale) + kLegendGap;
    }
    y += kLine + 10;
  }
  *legend_rows = rows.size();
  return y;
}

}  // namespace

RgbImage render_bar_chart(const BarChart& c, int width, int height) {
  validate(c, width, height);
  const size_t n_groups = c.groups.size(), n_series = c.series.size();
  double vmax = 0;
  for (const auto& row : c.values)
    for (double v : row)
      if (!std::isnan(v)) vmax = std::max(vmax, v);
  const double top_value = vmax > 0 ? std::max(vmax, kMinAxis) : 1.0;  // all zero or missing: an axis of 0..1

  Canvas cv(width, height);
  size_t legend_rows = 0;
  const int y = draw_heading(cv, c, width, &legend_rows);
  const int plot_top = y + 8 + kLine + 6;  // value labels of the tallest bars sit above the plot
  const int base = height - kPad - kLine - 10 - 2;  // bars end on this row; the x axis is below it
  const int plot_h = base - plot_top;
  const std::string what = cannot_draw(c);
  if (plot_h < 60)
    throw Error(what, {}, "a height of " + std::to_string(height) + " leaves " + std::to_string(plot_h) +
                              " px for the bars (the legend takes " + std::to_string(legend_rows) + " rows)");

  // Y axis: round ticks about every 50 px; the axis ends at the first tick at or above the largest value.
  const double step = nice_step(top_value / std::clamp(plot_h / 50, 2, 10));
  const int n_ticks = std::max(1, static_cast<int>(std::ceil(top_value / step - 1e-9)));
  const double axis_max = n_ticks * step;
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  std::vector<std::string> tick_labels;
  int tick_w = 0;
  for (int i = 0; i <= n_ticks; ++i) {
    tick_labels.push_back(format_number(i * step, decimals));
    tick_w = std::max(tick_w, text_width(tick_labels.back().size(), kScale));
  }
  const int left = kPad + (c.y_label.empty() ? 0 : kLine + 12);
  const int axis_x = left + tick_w + 12;  // the y axis occupies the 2 columns left of axis_x
  const int plot_right = width - kPad - 8;
  const int plot_w = plot_right - axis_x;
  if (plot_w < 60)
    throw Error(what, {}, "a width of " + std::to_string(width) + " leaves " + std::to_string(plot_w) +
                              " px for the bars (y tick labels are " + std::to_string(tick_w) + " px wide)");
  auto bar_height = [&](double v) { return static_cast<int>(std::lround(v / axis_max * plot_h)); };
  for (int i = 1; i <= n_ticks; ++i) {
    const int ty = base - bar_height(i * step);
    cv.fill(axis_x, ty, plot_right, ty + 1, kGrid);
  }

  // Bars: each group's cluster takes 80% of its slot, centred; bars at most 160 px wide.
  const double group_w = n_groups ? static_cast<double>(plot_w) / n_groups : plot_w;
  int pitch = n_series ? static_cast<int>(group_w * 0.8 / n_series) : 0;
  const int gap = pitch >= 12 ? 2 : 0;
  pitch = std::min(pitch, 160 + gap);
  const int bar_w = pitch - gap;
  if (n_series && n_groups && bar_w < 1)
    throw Error(what, {}, "too many bars (" + std::to_string(n_groups) + " groups x " + std::to_string(n_series) +
                              " series) for a width of " + std::to_string(width));
  // Value labels: integers, unless the ticks need decimals (values below ~10), then as many as they.
  const int value_decimals = vmax > 0 ? decimals : 0;
  std::vector<std::string> value_labels;
  for (const auto& row : c.values)
    for (double v : row)
      if (!std::isnan(v)) value_labels.push_back(format_number(v, value_decimals));
  // A label stays within its bar's columns; when some are too wide for that even at scale 1, none is
  // drawn (the axis still gives the values) rather than labels running into each other.
  const int value_scale = scale_to_fit(value_labels, pitch - 2, kScale);
  bool value_labels_shown = true;
  for (const auto& l : value_labels) value_labels_shown = value_labels_shown && text_width(l.size(), 1) <= pitch - 2;
  for (size_t g = 0; g < n_groups; ++g) {
    const int cluster = static_cast<int>(n_series) * pitch - gap;
    const int x0 = axis_x + static_cast<int>(std::lround(g * group_w + (group_w - cluster) / 2));
    for (size_t s = 0; s < n_series; ++s) {
      const double v = c.values[g][s];
      if (std::isnan(v)) continue;
      const int x = x0 + static_cast<int>(s) * pitch, h = bar_height(v);
      cv.fill(x, base - h, x + bar_w, base, series_colour(s));
      if (!value_labels_shown) continue;
      const std::string label = format_number(v, value_decimals);
      cv.text(x + (bar_w - text_width(label.size(), value_scale)) / 2, base - h - 5 - 7 * value_scale, label,
              value_scale, kInk);
    }
  }

  // Axes, tick labels (right-aligned, centred on their tick), group names, y label.
  cv.fill(axis_x - 2, plot_top - 6, axis_x, base + 2, kAxis);
  cv.fill(axis_x - 2, base, plot_right, base + 2, kAxis);
  for (int i = 0; i <= n_ticks; ++i) {
    const int ty = i == 0 ? base : base - bar_height(i * step);
    cv.fill(axis_x - 7, ty, axis_x - 2, ty + (i == 0 ? 2 : 1), kAxis);
    cv.text(axis_x - 10 - text_width(tick_labels[i].size(), kScale), ty - kLine / 2, tick_labels[i], kScale, kInk);
  }
  const int group_max = static_cast<int>(group_w) - 8;
  const int group_scale = scale_to_fit(c.groups, group_max, kScale);
  for (size_t g = 0; g < n_groups; ++g) {
    const std::string name = fit(c.groups[g], group_max, group_scale);
    const int cx = axis_x + static_cast<int>(std::lround((g + 0.5) * group_w));
    cv.text(cx - text_width(name.size(), group_scale) / 2, base + 2 + 10, name, group_scale, kInk);
  }
  if (!c.y_label.empty()) {
    const int ys = scale_to_fit({c.y_label}, plot_h, kScale);
    const std::string label = fit(c.y_label, plot_h, ys);
    cv.text(kPad + (kLine - 7 * ys) / 2, plot_top + (plot_h - text_width(label.size(), ys)) / 2, label, ys, kInk,
            /*up=*/true);
  }
  return cv.take();
}

// --- PNG ---

namespace {

constexpr size_t kMaxStored = 65535;  // the most bytes one stored deflate block holds

uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

uint32_t adler32_update(uint32_t adler, const uint8_t* p, size_t n) {
  uint32_t a = adler & 0xffff, b = adler >> 16;
  while (n > 0) {
    size_t k = std::min<size_t>(n, 5552);  // the most bytes before b can overflow 32 bits
    n -= k;
    while (k--) a += *p++, b += a;
    a %= 65521, b %= 65521;
  }
  return (b << 16) | a;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// A chunk is length, type, data, CRC of type and data: begin() writes a placeholder length and
// the type, end() fills in the length and appends the CRC.
size_t begin_chunk(std::vector<uint8_t>& out, const char* type) {
  const size_t at = out.size();
  put_u32(out, 0);
  out.insert(out.end(), type, type + 4);
  return at;
}
void end_chunk(std::vector<uint8_t>& out, size_t at) {
  const uint32_t len = static_cast<uint32_t>(out.size() - at - 8);
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(len >> (24 - 8 * i));
  put_u32(out, crc32_update(0xffffffffu, out.data() + at + 4, len + 4) ^ 0xffffffffu);
}

}  // namespace

std::vector<uint8_t> encode_png(const RgbImage& img) {
  const char* what = "cannot encode PNG";
  if (img.width <= 0 || img.height <= 0)
    throw Error(what, {}, "picture size " + std::to_string(img.width) + "x" + std::to_string(img.height));
  const uint64_t row = 3 * uint64_t(img.width), raw = (1 + row) * img.height;  // each row: filter byte + pixels
  if (img.rgb.size() != row * img.height)
    throw Error(what, {}, std::to_string(img.rgb.size()) + " bytes for a " + std::to_string(img.width) + "x" +
                              std::to_string(img.height) + " RGB picture (expected " +
                              std::to_string(row * img.height) + ")");
  const uint64_t blocks = (raw + kMaxStored - 1) / kMaxStored;
  const uint64_t idat = 2 + raw + 5 * blocks + 4;
  if (idat > 0x7fffffffu) throw Error(what, {}, "picture too large for one IDAT chunk");

  std::vector<uint8_t> out;
  out.reserve(8 + 25 + 12 + idat + 12);
  const uint8_t signature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  out.insert(out.end(), signature, signature + 8);

  size_t at = begin_chunk(out, "IHDR");
  put_u32(out, static_cast<uint32_t>(img.width));
  put_u32(out, static_cast<uint32_t>(img.height));
  out.insert(out.end(), {8, 2, 0, 0, 0});  // 8 bits, truecolour; deflate, filter method 0, no interlace
  end_chunk(out, at);

  at = begin_chunk(out, "IDAT");
  out.insert(out.end(), {0x78, 0x01});  // zlib: deflate, 32K window; (0x7801 % 31 == 0)
  uint64_t pos = 0;                     // raw bytes written so far
  uint32_t adler = 1;
  auto emit = [&](const uint8_t* p, size_t n) {
    while (n > 0) {
      if (pos % kMaxStored == 0) {  // a new stored block: BFINAL on the last, BTYPE 00, LEN, NLEN
        const auto len = static_cast<uint16_t>(std::min<uint64_t>(kMaxStored, raw - pos));
        out.insert(out.end(), {static_cast<uint8_t>(pos + len == raw), static_cast<uint8_t>(len & 0xff),
                               static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(~len & 0xff),
                               static_cast<uint8_t>((~len >> 8) & 0xff)});
      }
      const size_t take = std::min<uint64_t>(n, kMaxStored - pos % kMaxStored);
      out.insert(out.end(), p, p + take);
      adler = adler32_update(adler, p, take);
      pos += take, p += take, n -= take;
    }
  };
  const uint8_t filter_none = 0;
  for (int y = 0; y < img.height; ++y) {
    emit(&filter_none, 1);
    emit(img.rgb.data() + y * row, row);
  }
  put_u32(out, adler);
  end_chunk(out, at);

  end_chunk(out, begin_chunk(out, "IEND"));
  return out;
}

void write_png(const std::string& path, const RgbImage& img) {
  const char* what = "cannot write PNG";
  std::vector<uint8_t> bytes;
  try {
    bytes = encode_png(img);
  } catch (const Error& e) {
    throw e.with_input(path);
  }
  auto os_error = [](int err) { return std::generic_category().message(err); };

  // The partial file: closed, and removed unless renamed, on every way out.
  struct Part {
    std::string name;
    std::FILE* f = nullptr;
    bool done = false;
    ~Part() {
      if (f) std::fclose(f);
      if (!done) std::remove(name.c_str());
    }
  } part{path + ".part"};
  part.f = std::fopen(part.name.c_str(), "wb");
  if (!part.f) {
    part.done = true;  // nothing of ours to remove
    throw Error(what, path, "cannot create " + part.name + ": " + os_error(errno));
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), part.f) != bytes.size())
    throw Error(what, path, "writing " + part.name + ": " + os_error(errno));
  std::FILE* f = std::exchange(part.f, nullptr);
  if (std::fclose(f) != 0) throw Error(what, path, "closing " + part.name + ": " + os_error(errno));
  if (std::rename(part.name.c_str(), path.c_str()) != 0)
    throw Error(what, path, "renaming " + part.name + ": " + os_error(errno));
  part.done = true;
}

}  // namespace vidinfer
