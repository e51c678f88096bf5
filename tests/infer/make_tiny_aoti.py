#!/usr/bin/env python3
"""Test model for aoti_model_test.cpp: one tiny network (conv, ReLU, average pool, linear; outputs
(logits [B,10], features [B,8])) with fixed random weights, written three ways into OUT_DIR:

  tiny.pt           TorchScript (torch.jit.trace), the reference
  dynamic.pt2       AOTInductor package, batch 1..8, dtype and range in its metadata (vidinfer.* keys)
  static.pt2        AOTInductor package compiled for batch 4 only, dtype and range in its sidecar
                    static.pt2.json (no vidinfer metadata)

Usage: make_tiny_aoti.py OUT_DIR [--device cuda|cpu]. Exit status 3 (and a line saying why) where
this Python has no torch, or one older than 2.6: the test then skips.
"""
import argparse
import json
import os
import sys

try:
    import torch
except ImportError:
    print("python has no torch", file=sys.stderr)
    sys.exit(3)

if tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) < (2, 6):
    print(f"torch {torch.__version__} is older than 2.6 (no aoti_compile_and_package)", file=sys.stderr)
    sys.exit(3)

import torch._inductor  # noqa: E402 (after the version check: older torch may lack what is used)
import torch.export  # noqa: E402

SIZE = 32


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        f = self.pool(torch.relu(self.conv(x))).flatten(1)
        return self.fc(f), f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    torch.manual_seed(0)
    m = Tiny().eval().to(a.device)
    os.makedirs(a.out_dir, exist_ok=True)
    with torch.no_grad():
        x2 = torch.rand(2, 3, SIZE, SIZE, device=a.device)
        torch.jit.trace(m, (x2,)).save(os.path.join(a.out_dir, "tiny.pt"))

        batch = torch.export.Dim("batch", min=1, max=8)
        ep = torch.export.export(m, (x2,), dynamic_shapes=({0: batch},), strict=False)
        torch._inductor.aoti_compile_and_package(
            ep, package_path=os.path.join(a.out_dir, "dynamic.pt2"),
            inductor_configs={"aot_inductor.metadata": {
                "vidinfer.dtype": "float32", "vidinfer.batch_range": "[1, 8]", "vidinfer.input_size": str(SIZE)}})

        x4 = torch.rand(4, 3, SIZE, SIZE, device=a.device)
        ep = torch.export.export(m, (x4,), strict=False)
        path = os.path.join(a.out_dir, "static.pt2")
        torch._inductor.aoti_compile_and_package(ep, package_path=path)
        with open(path + ".json", "w") as f:
            json.dump({"dtype": "float32", "batch_range": [4, 4], "batch": 4, "input_size": SIZE}, f)


if __name__ == "__main__":
    main()
