#!/usr/bin/env python3
"""How far the bundled detector's float32 outputs on the GPU and on the CPU are from float64 (the
exact answer), for batch 1 and batch 16, with TF32 on and off: explains CPU/GPU detection
differences. Not a test. Run on the GPU machine:
  python3 bench/cpu-gpu-model-diff.py models/centernet/centernet.pt tests/data/centernet
"""
import sys
import torch

m = torch.jit.load(sys.argv[1]).eval()
imgs = []
for name in ("dog", "horses", "person"):
    raw = open(f"{sys.argv[2]}/{name}.512x512.rgb24", "rb").read()
    imgs.append(torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(512, 512, 3).permute(2, 0, 1).float())
x16 = torch.stack([(imgs[i % 3].flip(2) if i % 2 else imgs[i % 3]).roll(i * 7, 1) for i in range(16)])
m64 = torch.jit.load(sys.argv[1]).eval().double()
mg = torch.jit.load(sys.argv[1]).eval().cuda()
with torch.inference_mode():
    ref, _ = m64(x16.double())
    for b in (1, 16):
        x = x16[:b]
        hm_c, _ = m(x)
        line = f"batch {b}: cpu vs float64 {(hm_c.double() - ref[:b]).abs().max():.3g}"
        for tf32 in (True, False):
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            hm_g, _ = mg(x.cuda())
            line += f"; gpu tf32={tf32} vs float64 {(hm_g.cpu().double() - ref[:b]).abs().max():.3g}"
        print(line)
    print("C++ default: at::globalContext allow_tf32 cudnn =", torch.backends.cudnn.allow_tf32)
