#include "postprocess/heads.h"

#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <sstream>

#include "common/cuda.h"
#include "infer/model_stream.h"
#include "postprocess/cuda_centernet.h"
#include "postprocess/cuda_nms.h"
#include "vidinfer/error.h"

namespace vidinfer {
namespace {

Error misfit(const char* task, const std::string& expected, const torch::jit::IValue& got) {
  return Error(std::string("model output does not fit task ") + task, "",
               "expected " + expected + ", got " + describe(got));
}

std::string label_of(const std::vector<std::string>& labels, int id) {
  return id >= 0 && id < static_cast<int>(labels.size()) ? labels[id] : std::string();
}

// A tensor's values on the host, as `type`: a device tensor through pinned memory (a copy into
// pageable memory is staged through a pinned buffer by the driver anyway, with one more host copy);
// a host tensor as it is.
torch::Tensor to_host(const torch::Tensor& t, torch::ScalarType type) {
  if (!t.is_cuda()) return t.to(type);
  const torch::Tensor src = t.to(type);
  auto host = torch::empty(src.sizes(), torch::TensorOptions().dtype(type).pinned_memory(true));
  host.copy_(src);
  return host;
}

torch::Tensor activate(const torch::Tensor& t, Activation a) {
  switch (a) {
    case Activation::Sigmoid: return t.sigmoid();
    case Activation::Softmax: return t.softmax(-1);
    default: return t;
  }
}

torch::Tensor to_xyxy(const torch::Tensor& b, BoxFormat f) {
  auto c = b.unbind(-1);
  switch (f) {
    case BoxFormat::XYWH: return torch::stack({c[0], c[1], c[0] + c[2], c[1] + c[3]}, -1);
    case BoxFormat::CXCYWH:
      return torch::stack({c[0] - c[2] / 2, c[1] - c[3] / 2, c[0] + c[2] / 2, c[1] + c[3] / 2}, -1);
    default: return b;
  }
}

// One image's final detections (model-input coordinates) -> frame detections.
std::vector<Detection> to_frame(torch::Tensor boxes, torch::Tensor scores, torch::Tensor classes,
                                const Geometry& g, const DetectParams& p, const std::vector<std::string>& labels) {
  boxes = to_xyxy(to_host(boxes, torch::kFloat), p.box_format);
  if (p.boxes_normalized) boxes = boxes * torch::tensor({float(g.dst_w), float(g.dst_h), float(g.dst_w), float(g.dst_h)});
  scores = to_host(scores, torch::kFloat);
  classes = to_host(classes, torch::kLong);
  auto order = scores.argsort(0, /*descending=*/true);
  const auto b = boxes.accessor<float, 2>();
  const auto s = scores.accessor<float, 1>();
  const auto c = classes.accessor<int64_t, 1>();
  const auto o = order.accessor<int64_t, 1>();
  std::vector<Detection> out;
  for (int64_t k = 0; k < o.size(0) && static_cast<int>(out.size()) < p.max_detections; ++k) {
    const int64_t i = o[k];
    if (!(s[i] >= p.score_threshold)) continue;  // also drops NaN
    Detection d;
    d.x1 = static_cast<float>(std::clamp(g.to_frame_x(b[i][0]), 0.0, double(g.src_w)));
    d.y1 = static_cast<float>(std::clamp(g.to_frame_y(b[i][1]), 0.0, double(g.src_h)));
    d.x2 = static_cast<float>(std::clamp(g.to_frame_x(b[i][2]), 0.0, double(g.src_w)));
    d.y2 = static_cast<float>(std::clamp(g.to_frame_y(b[i][3]), 0.0, double(g.src_h)));
    if (d.x2 <= d.x1 || d.y2 <= d.y1) continue;  // entirely in the letterbox padding, or degenerate
    d.score = s[i];
    d.class_id = static_cast<int>(c[i]) + p.label_offset;
    d.label = label_of(labels, d.class_id);
    out.push_back(std::move(d));
  }
  return out;
}

bool is_tensor_of_rank(const torch::jit::IValue& v, int64_t rank) { return v.isTensor() && v.toTensor().dim() == rank; }

std::atomic<int64_t> g_centernet_fused{0}, g_centernet_torch{0}, g_centernet_overflow{0};

// One image's CenterNet rows (x1, y1, x2, y2, score, class) in model-input pixels, on the host.
std::vector<Detection> centernet_frame(const torch::Tensor& rows, const Geometry& g, const DetectParams& p,
                                       const std::vector<std::string>& labels) {
  DetectParams xyxy = p;
  xyxy.box_format = BoxFormat::XYXY;
  xyxy.boxes_normalized = false;
  return to_frame(rows.slice(1, 0, 4), rows.select(1, 4), rows.select(1, 5), g, xyxy, labels);
}

// CenterNet decoding with LibTorch's ops, batched on the output's device: the CPU path, and the GPU's
// when the fused kernels cannot take the batch. Only the top-k rows per frame reach the host.
void centernet_torch(const torch::Tensor& heatmap, const torch::Tensor& box_map, int64_t k, float sx, float sy,
                     const std::vector<Geometry>& geos, const DetectParams& p, const std::vector<std::string>& labels,
                     std::vector<std::vector<Detection>>& result) {
  const auto hm = heatmap.to(torch::kFloat), wh = box_map.to(torch::kFloat);
  const int64_t batch = hm.size(0), classes = hm.size(1), h = hm.size(2), w = hm.size(3);
  // Peaks: cells equal to the max of their 3x3 neighbourhood (padding never wins, as TF's SAME pool).
  auto peaks = hm * (hm == torch::max_pool2d(hm, {3, 3}, {1, 1}, {1, 1})).to(torch::kFloat);
  // Flatten in TensorFlow's NHWC order so that ties rank as in the original decoding (topk itself
  // leaves the order of equal scores unspecified; the fused kernels rank them by this index).
  auto flat = peaks.permute({0, 2, 3, 1}).reshape({batch, -1});
  auto [scores, idx] = flat.topk(k, 1);
  auto cls = idx.remainder(classes);
  auto cell = idx.div(classes, "floor");
  auto cy = cell.div(w, "floor").to(torch::kFloat), cx = cell.remainder(w).to(torch::kFloat);
  auto d = wh.permute({0, 2, 3, 1}).reshape({batch, h * w, 4}).gather(1, cell.unsqueeze(-1).expand({batch, k, 4}));
  auto rows = torch::stack({cx * sx - d.select(2, 0), cy * sy - d.select(2, 1), cx * sx + d.select(2, 2),
                            cy * sy + d.select(2, 3), scores, cls.to(torch::kFloat)},
                           2);
  const auto host = to_host(rows, torch::kFloat);
  for (int64_t i = 0; i < batch; ++i) result[i] = centernet_frame(host[i], geos[i], p, labels);
}

// The kernels' dtype code for a map (cuda_centernet.h), or -1 for a dtype they do not read.
int centernet_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return 0;
    case torch::kHalf: return 1;
    case torch::kBFloat16: return 2;
    default: return -1;
  }
}

// CenterNet decoding by the two kernels of postprocess/cuda_centernet.cu on the current stream: the
// heatmap is read once, in its own dtype, instead of the several full passes and the top-k over
// C*H*W per image of centernet_torch (about 3.6 ms of GPU time per batch of 64 on an H200, beside the
// next forward). Returns false, with `result` untouched, when a frame had more than kCenterNetCap
// peaks above the threshold: the caller then decodes the batch with centernet_torch.
//
// The kernels keep only peaks with score >= the threshold, where centernet_torch keeps the top k of
// all cells (non-peaks as 0) and to_frame then drops those below the threshold. With a threshold
// above 0 both leave the same rows: the k best peaks at or above it (the caller sends a threshold of
// 0 or less to centernet_torch, where zeroed non-peaks would pass too). Ties: topk's order among equal
// scores is unspecified; the kernels rank them by NHWC index, as the original (TensorFlow) decoding.
// NaN cells never become rows here, where topk ranks them first (each takes one of the k places
// before to_frame drops it); otherwise the rows are the same, values included (the box arithmetic is
// rounded as LibTorch's separate ops round it).
bool centernet_fused(const torch::Tensor& heatmap, const torch::Tensor& box_map, int64_t k, float sx, float sy,
                     const std::vector<Geometry>& geos, const DetectParams& p, const std::vector<std::string>& labels,
                     std::vector<std::vector<Detection>>& result) {
  const c10::DeviceGuard device(heatmap.device());
  const auto hm = heatmap.contiguous(), wh = box_map.contiguous();
  const int64_t batch = hm.size(0);
  // One buffer (LibTorch's caching allocator: no cudaMalloc per batch): the per-image counts and the
  // rows first, so one device-to-host copy brings both back; then the candidates' 64-bit keys.
  const int64_t out_words = batch + batch * k * 6;
  const int64_t scratch_at = (out_words + 1) / 2 * 2;  // 8-byte aligned
  auto buf = torch::empty({scratch_at + batch * cuda::kCenterNetCap * 2}, hm.options().dtype(torch::kFloat));
  cuda::CenterNetParams c;
  c.heatmap = reinterpret_cast<uintptr_t>(hm.data_ptr());
  c.heatmap_dtype = centernet_dtype(hm.scalar_type());
  c.boxes = reinterpret_cast<uintptr_t>(wh.data_ptr());
  c.boxes_dtype = centernet_dtype(wh.scalar_type());
  c.batch = static_cast<int>(batch);
  c.classes = static_cast<int>(hm.size(1));
  c.height = static_cast<int>(hm.size(2));
  c.width = static_cast<int>(hm.size(3));
  c.score_threshold = p.score_threshold;
  c.k = static_cast<int>(k);
  c.sx = sx;
  c.sy = sy;
  c.out = reinterpret_cast<uintptr_t>(buf.data_ptr());
  c.scratch = reinterpret_cast<uintptr_t>(buf.data_ptr<float>() + scratch_at);
  cuda::launch_centernet(c, current_cuda_stream(hm.device()));
  const auto host = to_host(buf.narrow(0, 0, out_words), torch::kFloat);
  std::vector<int32_t> counts(batch);
  std::memcpy(counts.data(), host.data_ptr<float>(), sizeof(int32_t) * batch);
  if (std::any_of(counts.begin(), counts.end(), [](int32_t n) { return n > cuda::kCenterNetCap; })) return false;
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t n = std::min<int64_t>(counts[i], k);
    result[i] = centernet_frame(host.narrow(0, batch + i * k * 6, n * 6).view({n, 6}), geos[i], p, labels);
  }
  return true;
}

// CenterNet decoding: the fused kernels for CUDA tensors where they apply, else LibTorch's ops.
std::vector<std::vector<Detection>> centernet_head(const torch::jit::IValue& out, const std::vector<Geometry>& geos,
                                                   const DetectParams& p, const std::vector<std::string>& labels) {
  const int64_t batch = static_cast<int64_t>(geos.size());
  const std::string expected = "a tuple (heatmap [" + std::to_string(batch) + ", classes, H, W], box map [" +
                               std::to_string(batch) + ", 4, H, W])";
  if (!(out.isTuple() || out.isList())) throw misfit("detect", expected, out);
  const auto e = out.isTuple() ? out.toTupleRef().elements().vec() : out.toListRef().vec();
  if (e.size() != 2 || !is_tensor_of_rank(e[0], 4) || !is_tensor_of_rank(e[1], 4)) throw misfit("detect", expected, out);
  const auto hm = e[0].toTensor(), wh = e[1].toTensor();
  const int64_t classes = hm.size(1), h = hm.size(2), w = hm.size(3);
  if (hm.size(0) != batch || wh.size(0) != batch || wh.size(1) != 4 || wh.size(2) != h || wh.size(3) != w)
    throw misfit("detect", expected, out);
  std::vector<std::vector<Detection>> result(batch);
  if (batch == 0) return result;
  const int64_t k = std::min<int64_t>(p.max_detections, classes * h * w);
  const float sx = static_cast<float>(geos[0].dst_w) / static_cast<float>(w);
  const float sy = static_cast<float>(geos[0].dst_h) / static_cast<float>(h);
  if (hm.is_cuda()) {
    const bool fits = wh.device() == hm.device() && cuda::kernels_available() && p.score_threshold > 0 && k >= 1 &&
                      classes * h * w <= std::numeric_limits<int32_t>::max() && centernet_dtype(hm.scalar_type()) >= 0 &&
                      centernet_dtype(wh.scalar_type()) >= 0;
    if (fits) {
      if (centernet_fused(hm, wh, k, sx, sy, geos, p, labels, result)) {
        ++g_centernet_fused;
        return result;
      }
      ++g_centernet_overflow;
    }
    ++g_centernet_torch;
  }
  centernet_torch(hm, wh, k, sx, sy, geos, p, labels, result);
  return result;
}

}  // namespace

std::string describe(const torch::jit::IValue& v) {
  std::ostringstream os;
  if (v.isTensor()) {
    const auto& t = v.toTensor();
    os << "Tensor" << t.sizes() << " " << t.scalar_type();
  } else if (v.isTuple() || v.isList()) {
    const auto elems = v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    os << (v.isTuple() ? "tuple(" : "list(");
    for (size_t i = 0; i < elems.size() && i < 4; ++i) os << (i ? ", " : "") << describe(elems[i]);
    if (elems.size() > 4) os << ", ... " << elems.size() << " items";
    os << ")";
  } else if (v.isGenericDict()) {
    os << "dict(";
    bool first = true;
    for (const auto& kv : v.toGenericDict()) {
      os << (first ? "" : ", ") << (kv.key().isString() ? kv.key().toStringRef() : "?");
      first = false;
    }
    os << ")";
  } else {
    os << v.tagKind();
  }
  return os.str();
}

std::vector<std::vector<ClassScore>> classify_head(const torch::jit::IValue& out, int batch,
                                                   const ClassifyParams& p,
                                                   const std::vector<std::string>& labels) {
  const std::string expected = "a [" + std::to_string(batch) + ", classes] tensor";
  if (!out.isTensor()) throw misfit("classify", expected, out);
  auto t = out.toTensor();
  if (t.dim() == 4 && t.size(2) == 1 && t.size(3) == 1) t = t.flatten(1);
  if (t.dim() != 2 || t.size(0) != batch || t.size(1) < 1 || !t.is_floating_point())
    throw misfit("classify", expected, out);
  auto probs = activate(t.to(torch::kFloat), p.activation);
  const int k = std::min<int64_t>(p.topk, probs.size(1));
  auto [values, indices] = probs.topk(k, 1);
  values = to_host(values, torch::kFloat);
  indices = to_host(indices, torch::kLong);
  const auto v = values.accessor<float, 2>();
  const auto ix = indices.accessor<int64_t, 2>();
  std::vector<std::vector<ClassScore>> result(batch);
  for (int b = 0; b < batch; ++b) {
    for (int j = 0; j < k; ++j) {
      const int id = static_cast<int>(ix[b][j]) + p.label_offset;
      result[b].push_back({id, label_of(labels, id), v[b][j]});
    }
  }
  return result;
}

// Written here because LibTorch has no NMS of its own and torchvision's C++ ops are not packaged
// for Debian. On the GPU the whole pass runs there (postprocess/cuda_nms.cu); on the CPU the IoU
// matrix is computed with tensor ops and the greedy pass walks it.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, float iou) {
  if (boxes.size(0) == 0) return torch::empty({0}, torch::TensorOptions().dtype(torch::kLong).device(boxes.device()));
  // Stable: equal scores keep their input order, the same on every device.
  auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  if (boxes.is_cuda() && cuda::kernels_available() && boxes.size(0) <= cuda::kNmsMaxBoxes) {
    const auto n = boxes.size(0);
    auto sorted = boxes.index_select(0, order).to(torch::kFloat).contiguous();
    auto mask = torch::empty({n * ((n + 63) / 64)}, sorted.options().dtype(torch::kLong));
    auto keep = torch::empty({n}, sorted.options().dtype(torch::kByte));
    cuda::launch_nms(reinterpret_cast<uintptr_t>(sorted.data_ptr()), static_cast<int>(n), iou,
                     reinterpret_cast<uintptr_t>(mask.data_ptr()), reinterpret_cast<uintptr_t>(keep.data_ptr()),
                     current_cuda_stream(boxes.device()));
    return order.masked_select(keep.to(torch::kBool));
  }
  auto b = boxes.index_select(0, order).to(torch::kFloat);
  auto x1 = b.select(1, 0), y1 = b.select(1, 1), x2 = b.select(1, 2), y2 = b.select(1, 3);
  auto area = (x2 - x1).clamp_min(0) * (y2 - y1).clamp_min(0);
  auto iw = (torch::min(x2.unsqueeze(1), x2.unsqueeze(0)) - torch::max(x1.unsqueeze(1), x1.unsqueeze(0))).clamp_min(0);
  auto ih = (torch::min(y2.unsqueeze(1), y2.unsqueeze(0)) - torch::max(y1.unsqueeze(1), y1.unsqueeze(0))).clamp_min(0);
  auto inter = iw * ih;
  auto uni = area.unsqueeze(1) + area.unsqueeze(0) - inter;
  auto over = to_host(inter > iou * uni, torch::kBool).contiguous();  // IoU > iou without dividing by 0
  const auto ov = over.accessor<bool, 2>();
  const int64_t n = b.size(0);
  std::vector<char> removed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    keep.push_back(i);
    for (int64_t j = i + 1; j < n; ++j)
      if (ov[i][j]) removed[j] = 1;
  }
  auto kept = torch::tensor(keep, torch::kLong).to(order.device());
  return order.index_select(0, kept);
}

torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& classes,
                          float iou) {
  if (boxes.size(0) == 0) return torch::empty({0}, torch::kLong);
  // Shift each class to its own region of the plane so that boxes of different classes never overlap.
  auto b = boxes.to(torch::kFloat);
  auto span = (b.max() - b.min()).item<float>() + 1.f;
  auto shifted = b + (classes.to(torch::kFloat) * span).unsqueeze(1);
  return nms(shifted, scores, iou);
}

std::vector<std::vector<Detection>> detect_head(const torch::jit::IValue& out,
                                                const std::vector<Geometry>& geometries,
                                                const DetectParams& p, const std::vector<std::string>& labels) {
  const int batch = static_cast<int>(geometries.size());
  std::vector<std::vector<Detection>> result(batch);

  if (p.layout == DetectLayout::CenterNet) return centernet_head(out, geometries, p, labels);

  if (p.layout == DetectLayout::Dense) {
    const std::string expected = "a tuple (boxes [" + std::to_string(batch) + ", N, 4], scores [" +
                                 std::to_string(batch) + ", N, classes])";
    if (!(out.isTuple() || out.isList())) throw misfit("detect", expected, out);
    const auto e = out.isTuple() ? out.toTupleRef().elements().vec() : out.toListRef().vec();
    if (e.size() != 2 || !is_tensor_of_rank(e[0], 3) || !is_tensor_of_rank(e[1], 3)) throw misfit("detect", expected, out);
    const auto boxes = e[0].toTensor(), scores = e[1].toTensor();
    if (boxes.size(0) != batch || scores.size(0) != batch || boxes.size(2) != 4 || boxes.size(1) != scores.size(1))
      throw misfit("detect", expected, out);
    auto probs = activate(scores.to(torch::kFloat), p.score_activation);
    for (int i = 0; i < batch; ++i) {
      auto s = probs[i];  // [N, C]
      auto candidates = (s > p.score_threshold).nonzero();  // [K, 2]: (box, class)
      if (candidates.size(0) == 0) continue;
      auto box_idx = candidates.select(1, 0), cls = candidates.select(1, 1);
      auto cand_scores = s.index({box_idx, cls});
      if (cand_scores.size(0) > p.pre_nms_topk) {
        auto top = std::get<1>(cand_scores.topk(p.pre_nms_topk));
        box_idx = box_idx.index_select(0, top);
        cls = cls.index_select(0, top);
        cand_scores = cand_scores.index_select(0, top);
      }
      auto cand_boxes = to_xyxy(boxes[i].to(torch::kFloat).index_select(0, box_idx), p.box_format);
      auto keep = batched_nms(cand_boxes, cand_scores, cls, p.iou_threshold).to(cand_boxes.device());
      DetectParams xyxy = p;
      xyxy.box_format = BoxFormat::XYXY;
      result[i] = to_frame(cand_boxes.index_select(0, keep), cand_scores.index_select(0, keep),
                           cls.index_select(0, keep), geometries[i], xyxy, labels);
    }
    return result;
  }

  // Final detections in one of the usual shapes.
  const std::string expected = "boxes/scores/labels as a tuple ([" + std::to_string(batch) + ", N, 4], [" +
                               std::to_string(batch) + ", N], [" + std::to_string(batch) +
                               ", N]), a dict with those keys, or a list of per-image dicts";
  auto from_dict = [&](const c10::impl::GenericDict& d, std::vector<torch::Tensor>& t) {
    for (const char* k : {"boxes", "scores", "labels"}) {
      auto it = d.find(c10::IValue(std::string(k)));
      if (it == d.end() || !it->value().isTensor()) throw misfit("detect", expected, out);
      t.push_back(it->value().toTensor());
    }
  };
  torch::jit::IValue v = out;
  // torchvision's scripted detectors return (losses, detections).
  if (v.isTuple() && v.toTupleRef().elements().size() == 2 && v.toTupleRef().elements()[1].isList())
    v = v.toTupleRef().elements()[1];
  std::vector<torch::Tensor> t;
  if (v.isList() && v.toListRef().size() == static_cast<size_t>(batch) && !v.toListRef().empty() &&
      v.toListRef()[0].isGenericDict()) {
    for (int i = 0; i < batch; ++i) {
      std::vector<torch::Tensor> per;
      const c10::IValue item = v.toListRef()[i];
      if (!item.isGenericDict()) throw misfit("detect", expected, out);
      from_dict(item.toGenericDict(), per);
      if (per[0].dim() != 2 || per[0].size(1) != 4 || per[1].dim() != 1 || per[2].dim() != 1 ||
          per[1].size(0) != per[0].size(0) || per[2].size(0) != per[0].size(0))
        throw misfit("detect", expected, out);
      result[i] = to_frame(per[0], per[1], per[2], geometries[i], p, labels);
    }
    return result;
  }
  if (v.isGenericDict()) {
    from_dict(v.toGenericDict(), t);
  } else if ((v.isTuple() || v.isList())) {
    const auto e = v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    if (e.size() != 3 || !std::all_of(e.begin(), e.end(), [](auto& x) { return x.isTensor(); }))
      throw misfit("detect", expected, out);
    for (const auto& x : e) t.push_back(x.toTensor());
  } else {
    throw misfit("detect", expected, out);
  }
  if (batch == 1 && t[0].dim() == 2) {  // unbatched output of a single-image model
    for (auto& x : t) x = x.unsqueeze(0);
  }
  if (t[0].dim() != 3 || t[0].size(0) != batch || t[0].size(2) != 4 || t[1].dim() != 2 || t[2].dim() != 2 ||
      t[1].size(0) != batch || t[2].size(0) != batch || t[1].size(1) != t[0].size(1) || t[2].size(1) != t[0].size(1))
    throw misfit("detect", expected, out);
  for (int i = 0; i < batch; ++i) result[i] = to_frame(t[0][i], t[1][i], t[2][i], geometries[i], p, labels);
  return result;
}

CenterNetGpuCounts centernet_gpu_counts() {
  return CenterNetGpuCounts{g_centernet_fused.load(), g_centernet_torch.load(), g_centernet_overflow.load()};
}

ClassifyParams classify_params(const RunOptions& o) {
  return ClassifyParams{o.topk, o.spec.class_activation, o.spec.label_offset};
}

DetectParams detect_params(const RunOptions& o) {
  DetectParams p;
  p.layout = o.spec.detect_layout;
  p.box_format = o.spec.box_format;
  p.boxes_normalized = o.spec.boxes_normalized;
  p.score_activation = o.spec.score_activation;
  p.label_offset = o.spec.label_offset;
  p.score_threshold = o.score_threshold;
  p.iou_threshold = o.iou_threshold;
  p.max_detections = o.max_detections;
  return p;
}

}  // namespace vidinfer
