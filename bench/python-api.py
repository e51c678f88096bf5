#!/usr/bin/env python3
"""The Python module against `vidinfer bench` and the usual Python pipeline, in one run, ON the GPU
machine (not a test). For each clip, 8 inputs x its frames, ResNet-50 (torchvision, random weights,
the same weights everywhere) at 224, bfloat16, batch 32, top-1:
  - `vidinfer bench --modes vidinfer,preprocess` (the CLI's engine with the model as TorchScript);
  - vidinfer.batches() alone (no model: the tensors are taken and dropped) against bench's preprocess;
  - vidinfer.run() with the eager nn.Module and with torch.compile(nn.Module) against bench's vidinfer;
  - the usual Python pipeline (peers/usual_opencv.py: OpenCV decode, tensor to the GPU, resize +
    normalise there, the same model as TorchScript), one input, as its authors run it.
fps = frames / seconds of iteration (the model's load and compile, before the first batch, are
given apart as setup). Table last.
    python3 bench/python-api.py --build build-gpu [--peers DIR] [--copies 8] CLIP...
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torchvision

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--peers", default=".gpu/peers")
ap.add_argument("--copies", type=int, default=8)
ap.add_argument("--no-compile", action="store_true")
ap.add_argument("clips", nargs="+")
a = ap.parse_args()
sys.path.insert(0, os.path.join(a.build, "python"))
import vidinfer  # noqa: E402

tmp = tempfile.mkdtemp(prefix="vidinfer-pyapi-")
torch.manual_seed(0)
net = torchvision.models.resnet50().eval().cuda().to(torch.bfloat16)
ts_path = os.path.join(tmp, "resnet50.pt")
torch.jit.script(torchvision.models.resnet50().eval()).save(ts_path)
net_cpu_state = {k: v.float().cpu() for k, v in net.state_dict().items()}
ts = torch.jit.load(ts_path)
ts.load_state_dict(net_cpu_state)  # the same weights in both
ts.save(ts_path)
common = dict(task="classify", input_size=224, dtype=torch.bfloat16, batch=32, topk=1, device="cuda")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"== {torch.cuda.get_device_name(0)}, torch {torch.__version__}, commit {commit or '?'}, "
      f"command: {' '.join(sys.argv)}", flush=True)


def timed(make):
    t0 = time.perf_counter()
    it = make()
    t1 = time.perf_counter()
    n = 0
    tops = []
    for x in it:
        if isinstance(x, vidinfer.Batch):
            n += len(x)
        elif "frame" in x:
            n += 1
            tops.append((x["input"], x["frame"], x["classes"][0]["class_id"]))
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    return {"fps": n / (t2 - t1), "frames": n, "setup_s": t1 - t0, "summary": it.summary, "top1": tops}


def bench_cli(clip):
    out = os.path.join(tmp, "bench.json")
    cmd = [os.path.join(a.build, "bin", "vidinfer"), "bench", "--model", ts_path, "--task", "classify",
           "--input-size", "224", "--dtype", "bfloat16", "--batch", "32", "--topk", "1", "--device", "cuda",
           "--copies", str(a.copies), "--modes", "vidinfer,preprocess", "--json", out, clip]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
        return {}
    return {row["mode"]: row["fps"] for row in json.load(open(out))["rows"]}


def usual(clip):
    script = os.path.join(a.peers, "usual_opencv.py")
    if not os.path.exists(script):
        return None
    r = subprocess.run([sys.executable, script, clip, ts_path], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if " fps" in line:
            return float(line.split(":")[1].split("fps")[0])
    print(r.stdout[-1000:], r.stderr[-1000:])
    return None


rows = []
for clip in a.clips:
    name = os.path.basename(clip)
    inputs = [clip] * a.copies
    b = bench_cli(clip)
    print(f"-- {name}: bench {b}", flush=True)
    bt = timed(lambda: vidinfer.batches(inputs, device="cuda", input_size=224, dtype=torch.bfloat16, batch=32))
    print(f"-- {name}: batches {bt['fps']:.0f} fps ({bt['frames']} frames), setup {bt['setup_s']:.1f} s",
          flush=True)
    eager = timed(lambda: vidinfer.run(inputs, model=net, **common))
    print(f"-- {name}: run eager {eager['fps']:.0f} fps, setup {eager['setup_s']:.1f} s, "
          f"h2d {eager['summary']['host_to_device_bytes']}", flush=True)
    ref = timed(lambda: vidinfer.run(inputs, model=ts_path, **common))
    same = sum(x == y for x, y in zip(sorted(eager["top1"]), sorted(ref["top1"])))
    print(f"-- {name}: run TorchScript file {ref['fps']:.0f} fps; eager top-1 = TorchScript's on "
          f"{same}/{len(ref['top1'])} frames", flush=True)
    comp = None
    if not a.no_compile:
        compiled = torch.compile(net)
        comp = timed(lambda: vidinfer.run(inputs, model=compiled, **common))
        print(f"-- {name}: run torch.compile {comp['fps']:.0f} fps, setup (compile) {comp['setup_s']:.1f} s",
              flush=True)
    u = usual(clip)
    print(f"-- {name}: usual python (OpenCV) {u} fps", flush=True)
    rows.append((name, b, bt, eager, comp, ref, u))

print()
print("| clip | bench vidinfer fps | bench preprocess fps | batches() fps (/ preprocess) | run() eager fps "
      "(/ bench vidinfer) | run() torch.compile fps (/ bench vidinfer) | run() .pt fps | usual Python fps | "
      "run() best / usual |")
print("|---|---|---|---|---|---|---|---|---|")
for name, b, bt, eager, comp, ref, u in rows:
    bv, bp = b.get("vidinfer", float("nan")), b.get("preprocess", float("nan"))
    best = max(eager["fps"], comp["fps"] if comp else 0)
    print(f"| {name} | {bv:.0f} | {bp:.0f} | {bt['fps']:.0f} ({bt['fps'] / bp:.0%}) | {eager['fps']:.0f} "
          f"({eager['fps'] / bv:.0%}) | " + (f"{comp['fps']:.0f} ({comp['fps'] / bv:.0%})" if comp else "-") +
          f" | {ref['fps']:.0f} | {u if u else '-'} | " + (f"{best / u:.1f}x" if u else "-") + " |")
