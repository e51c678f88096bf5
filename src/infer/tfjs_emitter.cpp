// The TF.js importer's translation of graph nodes into TorchScript source (infer/tfjs_graph.h): one
// line per op, NHWC maps turned NCHW, constants as the module's buffers, and the helper methods for
// the TensorFlow semantics PyTorch has no op for (SAME padding, TF.js's resize).
#include "infer/tfjs_graph.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <utility>

#include "vidinfer/error.h"

namespace vidinfer::tfjs {
namespace {

// TF.js stores string attributes base64-encoded; the standard library has no decoder and this is
// the only place that needs one.
std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const auto pos = chars.find(c);
    if (pos == std::string::npos) break;  // '=' padding or end
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::string float_literal(double v) {
  if (std::isnan(v)) return "float(\"nan\")";
  if (std::isinf(v)) return v > 0 ? "float(\"inf\")" : "float(\"-inf\")";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string int_list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// NHWC axis -> NCHW axis for 4-D feature maps.
int64_t nchw_axis(int64_t a) {
  static const int64_t map[4] = {0, 2, 3, 1};
  if (a < 0) a += 4;
  return map[a];
}

class Emitter {
 public:
  Emitter(std::string path, std::map<std::string, Node> nodes, std::map<std::string, torch::Tensor> weights)
      : path_(std::move(path)), nodes_(std::move(nodes)), weights_(std::move(weights)), module_("TfjsGraph") {}

  torch::jit::Module build(const std::vector<std::string>& outputs, std::string* source_out) {
    std::vector<std::string> vars;
    for (const auto& o : outputs) {
      const auto v = value(o);
      vars.push_back(v);
    }
    std::string src = helpers();
    src += "def forward(self, x):\n" + body_.str();
    if (vars.size() == 1) {
      src += "    return " + vars[0] + "\n";
    } else {
      src += "    return (";
      for (size_t i = 0; i < vars.size(); ++i) src += (i ? ", " : "") + vars[i];
      src += ")\n";
    }
    if (source_out) *source_out = src;
    try {
      module_.define(src);
    } catch (const std::exception& e) {
      throw Error("cannot import TF.js model", path_,
                  std::string("generated TorchScript does not compile: ") + e.what());
    }
    module_.eval();
    return module_;
  }

 private:
  [[noreturn]] void fail(const Node& n, const std::string& why) const {
    throw Error("cannot import TF.js model", path_, "node '" + n.name + "' (" + n.op + "): " + why);
  }

  const Node& node(const std::string& name) const {
    const auto it = nodes_.find(name);
    if (it == nodes_.end()) throw Error("cannot import TF.js model", path_, "no node named '" + name + "'");
    return it->second;
  }

  static std::string base_name(const std::string& input) {
    auto s = input;
    if (!s.empty() && s[0] == '^') s = s.substr(1);
    const auto colon = s.find(':');
    return colon == std::string::npos ? s : s.substr(0, colon);
  }

  bool is_const(const std::string& input) const { return node(base_name(input)).op == "Const"; }

  const torch::Tensor& const_tensor(const Node& user, const std::string& input) const {
    const auto name = base_name(input);
    const auto& n = node(name);
    if (n.op != "Const") fail(user, "input '" + name + "' must be a constant");
    const auto it = weights_.find(name);
    if (it == weights_.end()) fail(user, "constant '" + name + "' has no data in the weights manifest");
    return it->second;
  }

  std::vector<int64_t> const_ints(const Node& user, const std::string& input) const {
    auto t = const_tensor(user, input).to(torch::kLong).flatten();
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
  }

  std::string buffer(const torch::Tensor& t) {
    const std::string name = "w" + std::to_string(n_buffers_++);
    module_.register_buffer(name, t.contiguous());
    return "self." + name;
  }

  std::string new_var() { return "v" + std::to_string(n_vars_++); }

  void line(const std::string& var, const std::string& expr, const Node& n) {
    body_ << "    " << var << " = " << expr << "  # " << n.name << "\n";
  }

  // Attribute helpers.
  const json* attr(const Node& n, const char* key) const {
    return n.attr.contains(key) ? &n.attr.at(key) : nullptr;
  }
  std::string attr_s(const Node& n, const char* key, const std::string& dflt = "") const {
    const auto* a = attr(n, key);
    return a && a->contains("s") ? base64_decode(a->at("s").get<std::string>()) : dflt;
  }
  bool attr_b(const Node& n, const char* key, bool dflt = false) const {
    const auto* a = attr(n, key);
    return a && a->contains("b") ? a->at("b").get<bool>() : dflt;
  }
  double attr_f(const Node& n, const char* key, double dflt = 0) const {
    const auto* a = attr(n, key);
    return a && a->contains("f") ? a->at("f").get<double>() : dflt;
  }
  std::vector<int64_t> attr_ints(const Node& n, const char* key, std::vector<int64_t> dflt) const {
    const auto* a = attr(n, key);
    if (!a || !a->contains("list") || !a->at("list").contains("i")) return dflt;
    std::vector<int64_t> v;
    for (const auto& s : a->at("list").at("i")) v.push_back(s.is_string() ? std::stoll(s.get<std::string>()) : s.get<int64_t>());
    return v;
  }
  std::vector<std::string> attr_strings(const Node& n, const char* key) const {
    std::vector<std::string> v;
    const auto* a = attr(n, key);
    if (a && a->contains("list") && a->at("list").contains("s"))
      for (const auto& s : a->at("list").at("s")) v.push_back(base64_decode(s.get<std::string>()));
    return v;
  }

  void check_nhwc(const Node& n) const {
    const auto fmt = attr_s(n, "data_format", "NHWC");
    if (fmt != "NHWC") fail(n, "data_format " + fmt + " is not supported (NHWC only)");
  }

  // The variable holding a (non-constant) tensor, emitting its producer first.
  std::string value(const std::string& input) {
    const auto name = base_name(input);
    const auto colon = input.find(':');
    if (colon != std::string::npos && input.substr(colon + 1) != "0")
      fail(node(name), "output " + input.substr(colon + 1) + " is used; only the first output of this op is supported");
    if (const auto it = vars_.find(name); it != vars_.end()) return it->second;
    const auto& n = node(name);
    const auto v = emit(n);
    vars_[name] = v;
    return v;
  }

  int rank_of(const std::string& var) const {
    const auto it = ranks_.find(var);
    return it == ranks_.end() ? 4 : it->second;
  }

  // A constant operand of an elementwise op, shaped to broadcast against NCHW feature maps.
  std::string operand(const Node& n, const std::string& input, int other_rank) {
    if (!is_const(input)) return value(input);
    auto t = const_tensor(n, input);
    if (t.numel() == 1 && t.dim() <= 1) {
      return t.is_floating_point() ? float_literal(t.item<double>()) : std::to_string(t.item<int64_t>());
    }
    if (other_rank == 4) {
      if (t.dim() > 4) fail(n, "constant of rank " + std::to_string(t.dim()) + " cannot broadcast to a 4-D map");
      std::vector<int64_t> shape(4 - t.dim(), 1);
      for (auto d : t.sizes()) shape.push_back(d);
      t = t.reshape(shape).permute({0, 3, 1, 2});
    }
    return buffer(t.to(torch::kFloat));
  }

  std::string activation(const Node& n, const std::string& op, const std::string& x, const std::string& alpha_input) {
    if (op == "Relu") return "torch.relu(" + x + ")";
    if (op == "Relu6") return "torch.clamp(" + x + ", 0.0, 6.0)";
    if (op == "Sigmoid") return "torch.sigmoid(" + x + ")";
    if (op == "Tanh") return "torch.tanh(" + x + ")";
    if (op == "Elu") return "torch.elu(" + x + ")";
    if (op == "LeakyRelu") {
      const double a = attr_f(n, n.op == "LeakyRelu" ? "alpha" : "leakyrelu_alpha", 0.2);
      return "torch.leaky_relu(" + x + ", " + float_literal(a) + ")";
    }
    if (op == "Prelu") {
      if (alpha_input.empty()) fail(n, "Prelu without its alpha input");
      const auto a = operand(n, alpha_input, 4);
      return "torch.where(" + x + " < 0.0, " + x + " * " + a + ", " + x + ")";
    }
    fail(n, "fused activation '" + op + "' is not supported");
  }

  // Padding for a window op. Returns the (possibly padded) input variable and the symmetric padding
  // to pass to the op. TensorFlow's SAME puts the odd pixel after; PyTorch pads both sides equally,
  // so asymmetric cases are padded explicitly (at run time: the amount depends on the input size).
  std::pair<std::string, std::array<int64_t, 2>> pad_for(const Node& n, const std::string& x, int64_t kh, int64_t kw,
                                                         int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                                                         const std::string& fill) {
    const auto padding = attr_s(n, "padding", "VALID");
    if (padding == "VALID") return {x, {0, 0}};
    if (padding == "SAME") {
      const int64_t eh = (kh - 1) * dh, ew = (kw - 1) * dw;
      if (sh == 1 && sw == 1 && eh % 2 == 0 && ew % 2 == 0) return {x, {eh / 2, ew / 2}};
      const auto v = new_var();
      line(v,
           "self._same_pad(" + x + ", " + std::to_string(kh) + ", " + std::to_string(kw) + ", " + std::to_string(sh) +
               ", " + std::to_string(sw) + ", " + std::to_string(dh) + ", " + std::to_string(dw) + ", " + fill + ")",
           n);
      return {v, {0, 0}};
    }
    if (padding == "EXPLICIT") {
      const auto p = attr_ints(n, "explicit_paddings", {});
      if (p.size() != 8) fail(n, "explicit_paddings must have 8 values");
      if (p[2] == p[3] && p[4] == p[5]) return {x, {p[2], p[4]}};
      const auto v = new_var();
      line(v, "torch.constant_pad_nd(" + x + ", " + int_list({p[4], p[5], p[2], p[3]}) + ", " + fill + ")", n);
      return {v, {0, 0}};
    }
    fail(n, "padding '" + padding + "' is not supported");
  }

  std::string emit_conv(const Node& n, bool depthwise) {
    check_nhwc(n);
    if (n.inputs.size() < 2) fail(n, "expects an input and a filter");
    const auto x = value(n.inputs[0]);
    if (rank_of(x) != 4) fail(n, "input is not a 4-D feature map");
    auto filter = const_tensor(n, n.inputs[1]).to(torch::kFloat);
    if (filter.dim() != 4) fail(n, "filter must be 4-D [h, w, in, out]");
    const int64_t kh = filter.size(0), kw = filter.size(1);
    const auto strides = attr_ints(n, "strides", {1, 1, 1, 1});
    const auto dil = attr_ints(n, "dilations", {1, 1, 1, 1});
    if (strides.size() != 4 || dil.size() != 4) fail(n, "strides and dilations must have 4 values");
    torch::Tensor w;
    int64_t groups = 1;
    if (depthwise) {  // [h, w, in, mult] -> [in*mult, 1, h, w]; output channel c*mult + m, as TF
      const int64_t ci = filter.size(2), m = filter.size(3);
      w = filter.permute({2, 3, 0, 1}).reshape({ci * m, 1, kh, kw});
      groups = ci;
    } else {
      w = filter.permute({3, 2, 0, 1});  // [h, w, in, out] -> [out, in, h, w]
    }
    const int64_t cout = w.size(0);

    // Fused ops: BiasAdd or FusedBatchNorm first, then at most one activation.
    torch::Tensor bias;
    std::string act, alpha_input;
    const auto fused = attr_strings(n, "fused_ops");
    size_t arg = 2;
    for (size_t i = 0; i < fused.size(); ++i) {
      const auto& f = fused[i];
      if (i == 0 && f == "BiasAdd") {
        if (n.inputs.size() <= arg) fail(n, "BiasAdd without its bias input");
        bias = const_tensor(n, n.inputs[arg++]).to(torch::kFloat).flatten();
      } else if (i == 0 && f == "FusedBatchNorm") {
        if (n.inputs.size() < arg + 4) fail(n, "FusedBatchNorm needs scale, offset, mean and variance");
        auto scale = const_tensor(n, n.inputs[arg]).to(torch::kDouble).flatten();
        auto offset = const_tensor(n, n.inputs[arg + 1]).to(torch::kDouble).flatten();
        auto mean = const_tensor(n, n.inputs[arg + 2]).to(torch::kDouble).flatten();
        auto var = const_tensor(n, n.inputs[arg + 3]).to(torch::kDouble).flatten();
        arg += 4;
        auto inv = scale / torch::sqrt(var + attr_f(n, "epsilon", 0.001));
        w = (w.to(torch::kDouble) * inv.view({-1, 1, 1, 1})).to(torch::kFloat);
        bias = (offset - mean * inv).to(torch::kFloat);
      } else if (i > 0 && act.empty()) {
        act = f;
        if (f == "Prelu") {
          if (n.inputs.size() <= arg) fail(n, "Prelu without its alpha input");
          alpha_input = n.inputs[arg++];
        }
      } else {
        fail(n, "fused op sequence is not supported: " + f);
      }
    }
    if (bias.defined() && bias.numel() != cout) fail(n, "bias size does not match the output channels");

    auto [xin, pad] = pad_for(n, x, kh, kw, strides[1], strides[2], dil[1], dil[2], "0.0");
    const auto v = new_var();
    line(v,
         "torch.conv2d(" + xin + ", " + buffer(w.contiguous()) + ", " + (bias.defined() ? buffer(bias) : "None") +
             ", " + int_list({strides[1], strides[2]}) + ", " + int_list({pad[0], pad[1]}) + ", " +
             int_list({dil[1], dil[2]}) + ", " + std::to_string(groups) + ")",
         n);
    if (act.empty()) return v;
    const auto a = new_var();
    line(a, activation(n, act, v, alpha_input), n);
    return a;
  }

  std::string emit_pool(const Node& n, bool max) {
    check_nhwc(n);
    const auto x = value(n.inputs.at(0));
    if (rank_of(x) != 4) fail(n, "input is not a 4-D feature map");
    const auto k = attr_ints(n, "ksize", {});
    const auto s = attr_ints(n, "strides", {});
    if (k.size() != 4 || s.size() != 4 || k[0] != 1 || k[3] != 1) fail(n, "ksize/strides must be [1, h, w, 1]");
    auto [xin, pad] = pad_for(n, x, k[1], k[2], s[1], s[2], 1, 1, max ? "float(\"-inf\")" : "0.0");
    if (!max && xin != x) fail(n, "AvgPool with asymmetric SAME padding is not supported");
    const auto v = new_var();
    if (max)
      line(v, "torch.max_pool2d(" + xin + ", " + int_list({k[1], k[2]}) + ", " + int_list({s[1], s[2]}) + ", " +
                  int_list({pad[0], pad[1]}) + ")", n);
    else  // TensorFlow's average excludes the padding
      line(v, "torch.avg_pool2d(" + xin + ", " + int_list({k[1], k[2]}) + ", " + int_list({s[1], s[2]}) + ", " +
                  int_list({pad[0], pad[1]}) + ", False, False)", n);
    return v;
  }

  std::string emit(const Node& n) {
    const auto& op = n.op;
    if (op == "Const") fail(n, "a constant used where a computed tensor is expected");
    if (op == "Placeholder") {
      if (!input_name_.empty() && input_name_ != n.name)
        fail(n, "graph has more than one input ('" + input_name_ + "' and this); only one is supported");
      input_name_ = n.name;
      return "x";
    }
    if (op == "Conv2D" || op == "_FusedConv2D") return emit_conv(n, false);
    if (op == "DepthwiseConv2dNative" || op == "FusedDepthwiseConv2dNative") return emit_conv(n, true);
    if (op == "MaxPool") return emit_pool(n, true);
    if (op == "AvgPool") return emit_pool(n, false);
    if (op == "Identity") return value(n.inputs.at(0));
    if (op == "Relu" || op == "Relu6" || op == "Sigmoid" || op == "Tanh" || op == "Elu" || op == "LeakyRelu" ||
        op == "Prelu") {
      const auto x = value(n.inputs.at(0));
      const auto v = new_var();
      line(v, activation(n, op, x, op == "Prelu" ? n.inputs.at(1) : ""), n);
      ranks_[v] = rank_of(x);
      return v;
    }
    static const std::map<std::string, std::string> binary{{"Add", "+"}, {"AddV2", "+"}, {"BiasAdd", "+"},
                                                           {"Sub", "-"}, {"Mul", "*"},   {"RealDiv", "/"},
                                                           {"Maximum", ""}, {"Minimum", ""}};
    if (const auto b = binary.find(op); b != binary.end()) {
      if (n.inputs.size() != 2) fail(n, "expects two inputs");
      if (is_const(n.inputs[0]) && is_const(n.inputs[1])) fail(n, "both inputs are constants");
      const int r = is_const(n.inputs[0]) ? rank_of(value(n.inputs[1])) : rank_of(value(n.inputs[0]));
      const auto a = operand(n, n.inputs[0], r), c = operand(n, n.inputs[1], r);
      const auto v = new_var();
      if (b->second.empty()) {
        const std::string fn = op == "Maximum" ? "maximum" : "minimum";
        const bool a_scalar = is_const(n.inputs[0]) && a.rfind("self.", 0) != 0;
        const bool c_scalar = is_const(n.inputs[1]) && c.rfind("self.", 0) != 0;
        const std::string clamp = op == "Maximum" ? "torch.clamp_min(" : "torch.clamp_max(";
        if (a_scalar) line(v, clamp + c + ", " + a + ")", n);
        else if (c_scalar) line(v, clamp + a + ", " + c + ")", n);
        else line(v, "torch." + fn + "(" + a + ", " + c + ")", n);
      } else {
        line(v, a + " " + b->second + " " + c, n);
      }
      ranks_[v] = r;
      return v;
    }
    if (op == "Mean") {
      const auto x = value(n.inputs.at(0));
      auto axes = const_ints(n, n.inputs.at(1));
      const bool keep = attr_b(n, "keep_dims");
      if (rank_of(x) == 4)
        for (auto& a : axes) a = nchw_axis(a);
      const auto v = new_var();
      line(v, "torch.mean(" + x + ", " + int_list(axes) + ", " + (keep ? "True" : "False") + ")", n);
      ranks_[v] = keep ? rank_of(x) : rank_of(x) - static_cast<int>(axes.size());
      if (ranks_[v] != 4 && !(ranks_[v] == 2 && rank_of(x) == 4 && axes == std::vector<int64_t>{2, 3}))
        fail(n, "only means over all or the spatial axes of a 4-D map are supported");
      return v;
    }
    if (op == "ConcatV2") {
      if (n.inputs.size() < 2) fail(n, "expects inputs and an axis");
      std::vector<std::string> parts;
      int r = -1;
      for (size_t i = 0; i + 1 < n.inputs.size(); ++i) {
        parts.push_back(value(n.inputs[i]));
        if (r >= 0 && rank_of(parts.back()) != r) fail(n, "inputs of different ranks");
        r = rank_of(parts.back());
      }
      int64_t axis = const_ints(n, n.inputs.back()).at(0);
      if (r == 4) axis = nchw_axis(axis);
      std::string list = "[";
      for (size_t i = 0; i < parts.size(); ++i) list += (i ? ", " : "") + parts[i];
      const auto v = new_var();
      line(v, "torch.cat(" + list + "], " + std::to_string(axis) + ")", n);
      ranks_[v] = r;
      return v;
    }
    if (op == "ResizeBilinear" || op == "ResizeNearestNeighbor") {
      const auto x = value(n.inputs.at(0));
      if (rank_of(x) != 4) fail(n, "input is not a 4-D feature map");
      const auto size = const_ints(n, n.inputs.at(1));
      if (size.size() != 2) fail(n, "size must be [height, width]");
      const auto v = new_var();
      const std::string fn = op == "ResizeBilinear" ? "self._resize_bilinear(" : "self._resize_nearest(";
      line(v,
           fn + x + ", " + std::to_string(size[0]) + ", " + std::to_string(size[1]) + ", " +
               (attr_b(n, "align_corners") ? "True" : "False") + ", " +
               (attr_b(n, "half_pixel_centers") ? "True" : "False") + ")",
           n);
      return v;
    }
    fail(n, "op '" + op + "' is not supported by the importer");
  }

  // Helper methods of the generated module: TensorFlow semantics PyTorch has no op for.
  static std::string helpers() {
    return R"JIT(
def _same_pad(self, x: Tensor, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, fill: float) -> Tensor:
    ih = x.size(2)
    iw = x.size(3)
    oh = (ih + sh - 1) // sh
    ow = (iw + sw - 1) // sw
    ph = max((oh - 1) * sh + (kh - 1) * dh + 1 - ih, 0)
    pw = max((ow - 1) * sw + (kw - 1) * dw + 1 - iw, 0)
    return torch.constant_pad_nd(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2], fill)

def _ratio(self, n_in: int, n_out: int, align: bool) -> float:
    if align and n_out > 1:
        return float(n_in - 1) / float(n_out - 1)
    return float(n_in) / float(n_out)

def _bilinear_src(self, n_in: int, n_out: int, align: bool, half: bool, device: Device) -> Tuple[Tensor, Tensor, Tensor]:
    d = torch.arange(n_out, device=device).double()
    r = self._ratio(n_in, n_out, align)
    if half:
        src = (d + 0.5) * r - 0.5
    else:
        src = d * r
    fl = torch.floor(src)
    lo = torch.clamp(fl, 0.0, float(n_in - 1)).long()
    hi = torch.clamp(torch.ceil(src), 0.0, float(n_in - 1)).long()
    return lo, hi, (src - fl).float()

def _resize_bilinear(self, x: Tensor, oh: int, ow: int, align: bool, half: bool) -> Tensor:
    ylo, yhi, yf = self._bilinear_src(x.size(2), oh, align, half, x.device)
    xlo, xhi, xf = self._bilinear_src(x.size(3), ow, align, half, x.device)
    top = x.index_select(2, ylo)
    bot = x.index_select(2, yhi)
    tl = top.index_select(3, xlo)
    tr = top.index_select(3, xhi)
    bl = bot.index_select(3, xlo)
    br = bot.index_select(3, xhi)
    xw = xf.to(x.dtype).view(1, 1, 1, ow)
    yw = yf.to(x.dtype).view(1, 1, oh, 1)
    t = tl + (tr - tl) * xw
    b = bl + (br - bl) * xw
    return t + (b - t) * yw

def _nearest_src(self, n_in: int, n_out: int, align: bool, half: bool, device: Device) -> Tensor:
    d = torch.arange(n_out, device=device).double()
    r = self._ratio(n_in, n_out, align)
    if half:
        src = (d + 0.5) * r
    else:
        src = d * r
    if align:
        idx = torch.round(src)
    else:
        idx = torch.floor(src)
    return torch.clamp(idx, 0.0, float(n_in - 1)).long()

def _resize_nearest(self, x: Tensor, oh: int, ow: int, align: bool, half: bool) -> Tensor:
    y = self._nearest_src(x.size(2), oh, align, half, x.device)
    xs = self._nearest_src(x.size(3), ow, align, half, x.device)
    return x.index_select(2, y).index_select(3, xs)

)JIT";
  }

  std::string path_;
  std::map<std::string, Node> nodes_;
  std::map<std::string, torch::Tensor> weights_;
  torch::jit::Module module_;
  std::ostringstream body_;
  std::map<std::string, std::string> vars_;
  std::map<std::string, int> ranks_;
  std::string input_name_;
  int n_buffers_ = 0, n_vars_ = 0;
};

}  // namespace

torch::jit::Module emit_torchscript(const std::string& path, std::map<std::string, Node> nodes,
                                    std::map<std::string, torch::Tensor> weights,
                                    const std::vector<std::string>& outputs, std::string* source) {
  Emitter e(path, std::move(nodes), std::move(weights));
  return e.build(outputs, source);
}

}  // namespace vidinfer::tfjs
