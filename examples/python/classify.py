#!/usr/bin/env python3
"""Classify every 10th frame of some videos with a torchvision model, on the GPU, from Python.

    PYTHONPATH=build/python python3 examples/python/classify.py VIDEO [VIDEO...] [--weights W.pth]

vidinfer decodes (NVDEC), resizes and normalises the frames into batches on the GPU; the model is an
ordinary nn.Module (here torch.compile'd); the top-1 class per frame is printed as JSON Lines.
Without --weights the model has random weights (no download).
"""
import argparse
import json

import torch
import torchvision

import vidinfer

ap = argparse.ArgumentParser()
ap.add_argument("videos", nargs="+")
ap.add_argument("--weights", help="a torchvision ResNet-50 state dict (.pth)")
ap.add_argument("--every", type=int, default=10)
ap.add_argument("--no-compile", action="store_true")
a = ap.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.bfloat16 if device == "cuda" else torch.float32
net = torchvision.models.resnet50()
if a.weights:
    net.load_state_dict(torch.load(a.weights, map_location="cpu"))
net = net.eval().to(device, dtype)
model = net if a.no_compile or device == "cpu" else torch.compile(net)

# A Python callable is the model: vidinfer.run calls it with each batch ([B,3,224,224], normalised,
# in `dtype`, on `device`) and runs its classification head on what it returns (logits [B,1000]).
results = vidinfer.run(a.videos, model=model, task="classify", device=device, dtype=dtype,
                       input_size=224, batch=32, topk=1, every=a.every)
for r in results:
    print(json.dumps(r))
print(json.dumps(results.summary), flush=True)
