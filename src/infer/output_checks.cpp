// Checks of a model's output for values that are not finite (see output_checks.h).
#include "infer/output_checks.h"

#include <cmath>

namespace vidinfer {
namespace {

// Marks, per row (frame) of a batch of `n`, whether the model's output for it holds a NaN or an
// infinity: rows[r] becomes "NaN" or "Inf" (the first found). Walks tensors inside tuples, lists and
// dicts; a tensor whose first dimension is not the batch marks every row; a list of `n` per-image
// results (torchvision style) marks the row by its position.
void non_finite_rows_of(const torch::jit::IValue& v, int n, std::vector<const char*>& rows) {
  if (v.isTensor()) {
    const torch::Tensor& t = v.toTensor();
    if (!t.is_floating_point() || t.numel() == 0) return;
    const torch::Tensor bad = ~torch::isfinite(t);
    if (!bad.any().item<bool>()) return;
    const torch::Tensor nan = torch::isnan(t);
    if (t.dim() >= 1 && t.size(0) == n) {
      const torch::Tensor b = bad.reshape({n, -1}).any(1).cpu(), na = nan.reshape({n, -1}).any(1).cpu();
      const auto ba = b.accessor<bool, 1>(), nn = na.accessor<bool, 1>();
      for (int r = 0; r < n; ++r)
        if (ba[r] && !rows[r]) rows[r] = nn[r] ? "NaN" : "Inf";
    } else {
      const char* kind = nan.any().item<bool>() ? "NaN" : "Inf";
      for (auto& r : rows)
        if (!r) r = kind;
    }
    return;
  }
  std::vector<torch::jit::IValue> items;
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) items.push_back(e);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) items.push_back(e);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) items.push_back(e.value());
  }
  const bool per_image = v.isList() && static_cast<int>(items.size()) == n;
  for (size_t i = 0; i < items.size(); ++i) {
    if (per_image && !items[i].isTensor()) {
      std::vector<const char*> sub(n, nullptr);
      non_finite_rows_of(items[i], n, sub);
      for (const char* k : sub)
        if (k && !rows[i]) rows[i] = k;
    } else {
      non_finite_rows_of(items[i], n, rows);
    }
  }
}

// The floating-point tensors of a model output, wherever they are in it.
void float_tensors(const torch::jit::IValue& v, std::vector<torch::Tensor>& out) {
  if (v.isTensor()) {
    if (v.toTensor().is_floating_point() && v.toTensor().numel() > 0) out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) float_tensors(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) float_tensors(e, out);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) float_tensors(e.value(), out);
  }
}

}  // namespace

void non_finite_rows(const torch::jit::IValue& v, int n, std::vector<const char*>& rows) {
  // First, one pass over each tensor and one copy to the host for the whole output: a tensor's
  // minimum and maximum are both finite exactly when all its elements are (a NaN makes them NaN,
  // an infinity shows in one of them). isfinite + any wrote a mask as large as the output and read
  // it back, per tensor, with a host round trip each: on a detector's 64 x 80 x 128 x 128 heatmap
  // that was a millisecond of GPU time per batch beside the next forward. Only an output that is
  // not finite is walked row by row, to name the rows.
  std::vector<torch::Tensor> ts;
  float_tensors(v, ts);
  if (ts.empty()) return;
  std::vector<torch::Tensor> ends;
  for (const auto& t : ts) {
    auto [lo, hi] = torch::aminmax(t.is_cuda() ? t : t.to(torch::kFloat));
    ends.push_back(lo.to(torch::kFloat).reshape({1}));
    ends.push_back(hi.to(torch::kFloat).reshape({1}));
  }
  const torch::Tensor host = torch::cat(ends).cpu();
  const auto h = host.accessor<float, 1>();
  bool finite = true;
  for (int64_t i = 0; i < h.size(0); ++i) finite = finite && std::isfinite(h[i]);
  if (!finite) non_finite_rows_of(v, n, rows);
}

}  // namespace vidinfer
