#!/usr/bin/env python3
"""Detection with boxes decoded in Python: vidinfer.batches() hands the normalised GPU batches and
each row's frame; the model and the box decoding are ordinary PyTorch.

    PYTHONPATH=build/python python3 examples/python/detect.py VIDEO [VIDEO...]

The model here is torchvision's Faster R-CNN (random weights: no download; pass --weights for real
ones). It takes a list of [3,H,W] images in 0..1 and returns boxes in its input's coordinates, which
are scaled back to the frame's size here (the batch was resized with resize="stretch").
"""
import argparse
import json

import torch
import torchvision

import vidinfer

ap = argparse.ArgumentParser()
ap.add_argument("videos", nargs="+")
ap.add_argument("--weights", help="a torchvision fasterrcnn_resnet50_fpn state dict (.pth)")
ap.add_argument("--every", type=int, default=15)
ap.add_argument("--score", type=float, default=0.5)
a = ap.parse_args()

device = "cuda" if torch.cuda.is_available() else "cpu"
net = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
if a.weights:
    net.load_state_dict(torch.load(a.weights, map_location="cpu"))
net = net.eval().to(device)
W, H = 640, 384
# mean 0, std 1: the pixels on the 0..1 scale (torchvision's detectors normalise inside).
frames = vidinfer.batches(a.videos, device=device, input_size=(W, H), mean=(0, 0, 0), std=(1, 1, 1),
                          batch=8, every=a.every)
with torch.inference_mode():
    for b in frames:
        outs = net(list(b.tensor))
        for inp, frame, pts, (fw, fh), o in zip(b.inputs, b.frames, b.pts, b.sizes, outs):
            keep = o["scores"] >= a.score
            boxes = o["boxes"][keep] * torch.tensor([fw / W, fh / H, fw / W, fh / H], device=device)
            print(json.dumps({"input": inp, "frame": frame, "pts": pts, "detections": [
                {"box": [round(v, 1) for v in box.tolist()], "score": round(s.item(), 4), "class_id": int(c)}
                for box, s, c in zip(boxes, o["scores"][keep], o["labels"][keep])]}))
