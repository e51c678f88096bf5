// Builds the bundled TorchScript models from source (no binary blobs in the repository):
//   vidinfer-make-models colour-namer OUT.pt
// colour-namer: input [B,3,H,W] RGB on the 0..1 scale; output [B,12] probabilities: the share of the
// frame's pixels whose nearest reference colour (of 12; labels in colour-namer.labels.txt, same
// order) is each one. A deterministic placeholder model, not a learned one.
#include <torch/script.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "colour-namer") {
    std::fprintf(stderr, "usage: vidinfer-make-models colour-namer OUT.pt\n");
    return 2;
  }
  // sRGB references, 0..1, in label order.
  const float refs[12][3] = {
      {0.00f, 0.00f, 0.00f}, {1.00f, 1.00f, 1.00f}, {0.50f, 0.50f, 0.50f}, {0.85f, 0.10f, 0.10f},
      {0.95f, 0.55f, 0.10f}, {0.95f, 0.90f, 0.15f}, {0.15f, 0.65f, 0.20f}, {0.10f, 0.80f, 0.85f},
      {0.10f, 0.25f, 0.85f}, {0.55f, 0.20f, 0.70f}, {0.95f, 0.55f, 0.70f}, {0.50f, 0.33f, 0.18f}};
  try {
    torch::jit::Module m("ColourNamer");
    m.register_buffer("refs", torch::from_blob(const_cast<float*>(&refs[0][0]), {12, 3}).clone());
    m.define(R"JIT(
def forward(self, x):
    px = x.float().flatten(2).transpose(1, 2)
    d = (px.unsqueeze(2) - self.refs.view(1, 1, 12, 3)).pow(2).sum(-1)
    votes = torch.one_hot(d.argmin(-1), 12).float().mean(1)
    return votes
)JIT");
    m.save(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vidinfer-make-models: %s\n", e.what());
    return 1;
  }
  return 0;
}
