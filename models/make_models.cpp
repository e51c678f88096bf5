// Builds the bundled TorchScript models from source (no binary blobs in the repository):
//   vidinfer-make-models colour-namer OUT.pt
//   vidinfer-make-models tiny-cnn OUT.pt
// colour-namer: input [B,3,H,W] RGB on the 0..1 scale; output [B,12] probabilities: the share of the
// frame's pixels whose nearest reference colour (of 12; labels in colour-namer.labels.txt, same
// order) is each one. A deterministic placeholder model, not a learned one.
// tiny-cnn: a small ImageNet-shaped classifier for measuring the pipeline (random weights, fixed
// seed): 4 strided 3x3 conv + ReLU layers (3->16->32->64->128), global average pool, linear to 1000.
#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace {

torch::jit::Module colour_namer() {
  // sRGB references, 0..1, in label order.
  const float refs[12][3] = {
      {0.00f, 0.00f, 0.00f}, {1.00f, 1.00f, 1.00f}, {0.50f, 0.50f, 0.50f}, {0.85f, 0.10f, 0.10f},
      {0.95f, 0.55f, 0.10f}, {0.95f, 0.90f, 0.15f}, {0.15f, 0.65f, 0.20f}, {0.10f, 0.80f, 0.85f},
      {0.10f, 0.25f, 0.85f}, {0.55f, 0.20f, 0.70f}, {0.95f, 0.55f, 0.70f}, {0.50f, 0.33f, 0.18f}};
  torch::jit::Module m("ColourNamer");
  m.register_buffer("refs", torch::from_blob(const_cast<float*>(&refs[0][0]), {12, 3}).clone());
  m.define(R"JIT(
def forward(self, x):
    px = x.float().flatten(2).transpose(1, 2)
    d = (px.unsqueeze(2) - self.refs.view(1, 1, 12, 3)).pow(2).sum(-1)
    votes = torch.one_hot(d.argmin(-1), 12).float().mean(1)
    return votes
)JIT");
  return m;
}

torch::jit::Module tiny_cnn() {
  torch::manual_seed(0);
  torch::jit::Module m("TinyCnn");
  const int64_t ch[] = {3, 16, 32, 64, 128};
  for (int i = 0; i < 4; ++i) {
    m.register_parameter("w" + std::to_string(i),
                         torch::randn({ch[i + 1], ch[i], 3, 3}) * std::sqrt(2.0 / (ch[i] * 9)), false);
    m.register_parameter("b" + std::to_string(i), torch::zeros({ch[i + 1]}), false);
  }
  m.register_parameter("fc_w", torch::randn({1000, 128}) * 0.05, false);
  m.register_parameter("fc_b", torch::zeros({1000}), false);
  m.define(R"JIT(
def forward(self, x):
    x = torch.relu(torch.conv2d(x, self.w0, self.b0, [2, 2], [1, 1]))
    x = torch.relu(torch.conv2d(x, self.w1, self.b1, [2, 2], [1, 1]))
    x = torch.relu(torch.conv2d(x, self.w2, self.b2, [2, 2], [1, 1]))
    x = torch.relu(torch.conv2d(x, self.w3, self.b3, [2, 2], [1, 1]))
    x = x.mean(dim=[2, 3])
    return torch.addmm(self.fc_b, x, self.fc_w.t())
)JIT");
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc == 3 ? argv[1] : "";
  if (which != "colour-namer" && which != "tiny-cnn") {
    std::fprintf(stderr, "usage: vidinfer-make-models colour-namer|tiny-cnn OUT.pt\n");
    return 2;
  }
  try {
    (which == "tiny-cnn" ? tiny_cnn() : colour_namer()).save(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidinfer-make-models: %s\n", e.what());
    return 1;
  }
  return 0;
}
