#!/usr/bin/env python3
"""Model-only throughput of the bench model (TorchScript ResNet-50, random weights) at a batch and
dtype, on the GPU, input already on the device: the ceiling for end-to-end runs. Not a test.
  bench/model-only.py [--batch 32] [--dtype bfloat16] [--iters 30]"""
import argparse, time
import torch, torchvision
ap = argparse.ArgumentParser()
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--dtype", default="bfloat16")
ap.add_argument("--iters", type=int, default=30)
a = ap.parse_args()
dt = getattr(torch, a.dtype)
m = torch.jit.script(torchvision.models.resnet50().eval()).cuda().to(dt)
x = torch.randn(a.batch, 3, 224, 224, device="cuda", dtype=dt)
with torch.inference_mode():
    for _ in range(5):
        m(x).float().topk(1)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(a.iters):
        m(x).float().topk(1)[1].cpu()
    torch.cuda.synchronize()
    s = time.perf_counter() - t
print(f"model only: resnet50 {a.dtype} batch {a.batch}: {a.iters * a.batch / s:.1f} frames/s "
      f"({s / a.iters * 1e3:.2f} ms per batch)")
