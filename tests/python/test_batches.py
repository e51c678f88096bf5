"""vidinfer.batches(): shapes, dtypes, provenance (frame indices and pts as the CLI's), values,
ownership of the yielded tensors."""
import json
import subprocess

import pytest
import torch

import vidinfer
from conftest import needs_gpu


def collect(it):
    return list(it)


def test_shapes_dtypes_and_rows_cover_every_frame_in_order(moving, red):
    out = collect(vidinfer.batches([moving, red], device="cpu", input_size=(48, 32), batch=4))
    assert out, "no batches"
    for b in out:
        assert isinstance(b, vidinfer.Batch)
        assert b.tensor.dtype == torch.float32 and b.tensor.device.type == "cpu"
        assert b.tensor.shape[1:] == (3, 32, 48) and 1 <= b.tensor.shape[0] <= 4
        assert len(b.inputs) == len(b.frames) == len(b.pts) == len(b.sizes) == b.tensor.shape[0]
        assert all(s == (96, 64) for s in b.sizes)
    for path, n in ((moving, 30), (red, 12)):
        rows = [(f, p) for b in out for i, f, p in zip(b.inputs, b.frames, b.pts) if i == path]
        assert [f for f, _ in rows] == list(range(n))
        assert [p for _, p in rows] == pytest.approx([k / 25 for k in range(n)], abs=1e-6)


def test_frame_indices_and_pts_equal_the_clis(moving, classifier, cli, workdir):
    path, _ = classifier
    jl = f"{workdir}/cli-every.jsonl"
    subprocess.run([cli, "run", "--model", path, "--task", "classify", "--device", "cpu", "--every", "3",
                    "--start", "0.2", "-o", jl, "--quiet", moving], check=True, capture_output=True)
    lines = [json.loads(l) for l in open(jl)]
    cli_rows = [(l["frame"], l["pts"]) for l in lines if "frame" in l]
    got = [(f, p) for b in vidinfer.batches(moving, device="cpu", every=3, start=0.2, batch=5)
           for f, p in zip(b.frames, b.pts)]
    assert cli_rows and got == cli_rows


def test_values_are_the_models_input(moving, classifier):
    """The same TorchScript model, run on the yielded batches in Python and by vidinfer.run from the
    file, gives the same scores: the batch is exactly what the pipeline's model gets."""
    path, _ = classifier
    m = torch.jit.load(path)
    mine = {}
    for b in vidinfer.batches(moving, device="cpu", input_size=64, batch=8):
        probs = torch.softmax(m(b.tensor).float(), dim=1)
        for f, p in zip(b.frames, probs):
            mine[f] = p
    theirs = {r["frame"]: r for r in vidinfer.run(moving, model=path, device="cpu", input_size=64, batch=8,
                                                  topk=4) if "frame" in r}
    assert sorted(mine) == sorted(theirs) == list(range(30))
    for f, r in theirs.items():
        for c in r["classes"]:
            assert c["score"] == pytest.approx(mine[f][c["class_id"]].item(), abs=1e-5)


def test_uint8_is_the_resized_pixels(red, moving):
    u = collect(vidinfer.batches(red, device="cpu", input_size=32, dtype=torch.uint8, batch=6))
    t = torch.cat([b.tensor for b in u])
    assert t.dtype == torch.uint8 and t.shape == (12, 3, 32, 32)
    # Solid red through H.264 4:2:0 and back: R near 255, G and B near 0 (limited-range rounding).
    mean = t.float().mean(dim=(0, 2, 3))
    assert mean[0] > 240 and mean[1] < 15 and mean[2] < 15, mean
    # uint8 = the float pixels (0..255 scale) rounded.
    f = torch.cat([b.tensor for b in vidinfer.batches(moving, device="cpu", input_size=40, mean=(0, 0, 0),
                                                      std=(1 / 255,) * 3, batch=6)])
    q = torch.cat([b.tensor for b in vidinfer.batches(moving, device="cpu", input_size=40, dtype=torch.uint8,
                                                      batch=6)])
    assert torch.equal(q, f.round().clamp(0, 255).to(torch.uint8))


def test_channels_bgr_swaps_the_planes(red):
    rgb = next(iter(vidinfer.batches(red, device="cpu", input_size=16, dtype=torch.uint8, batch=2))).tensor
    bgr = next(iter(vidinfer.batches(red, device="cpu", input_size=16, dtype=torch.uint8, batch=2,
                                     channels="bgr"))).tensor
    assert torch.equal(rgb.flip(1), bgr)


def test_yielded_tensors_stay_valid_while_held(moving):
    held = collect(vidinfer.batches(moving, device="cpu", input_size=32, batch=2))  # 15 batches > the pool
    again = [b.tensor.clone() for b in vidinfer.batches(moving, device="cpu", input_size=32, batch=2)]
    assert len(held) == len(again) == 15
    for h, a in zip(held, again):
        assert torch.equal(h.tensor, a)
    assert not torch.equal(held[0].tensor, held[-1].tensor)


def test_hevc_rows_and_sizes(moving_hevc):
    rows = [(f, s) for b in vidinfer.batches(moving_hevc, device="cpu", input_size=32, batch=6)
            for f, s in zip(b.frames, b.sizes)]
    assert [f for f, _ in rows] == list(range(20)) and all(s == (160, 144) for _, s in rows)


def test_max_frames_and_end(moving):
    got = [f for b in vidinfer.batches(moving, device="cpu", input_size=16, max_frames=7) for f in b.frames]
    assert got == list(range(7))
    got = [f for b in vidinfer.batches(moving, device="cpu", input_size=16, end=0.5) for f in b.frames]
    assert got == list(range(13))  # pts 0.00 .. 0.48 (< 0.5)


def test_summary_after_the_end(moving):
    it = vidinfer.batches(moving, device="cpu", input_size=16)
    n = sum(len(b) for b in it)
    assert n == 30
    assert it.summary["inputs"][0]["status"] == "ok"
    assert it.summary["inputs"][0]["frames_decoded"] == 30


@needs_gpu
def test_gpu_batches_stay_on_the_gpu_and_match_the_cpu_path(moving, moving_hevc):
    for clip in (moving, moving_hevc):
        it = vidinfer.batches(clip, device="cuda", input_size=64, batch=8)
        g = [b for b in it]
        assert all(b.tensor.is_cuda for b in g)
        # Decoded by NVDEC (a CPU-decoded input's batches are copied to the GPU, and counted here).
        assert it.summary["host_to_device_bytes"] == 0, it.summary["inputs"][0].get("decoder")
        c = [b for b in vidinfer.batches(clip, device="cpu", input_size=64, batch=8)]
        assert [f for b in g for f in b.frames] == [f for b in c for f in b.frames]
        assert [p for b in g for p in b.pts] == [p for b in c for p in b.pts]
        diff = (torch.cat([b.tensor.cpu() for b in g]) - torch.cat([b.tensor for b in c])).abs()
        # The GPU kernel against the CPU reference (normalised units; ~0.02 = 1/255 of the range / std).
        assert diff.mean().item() < 0.02 and diff.max().item() < 0.5, (diff.mean().item(), diff.max().item())


def test_gpu_batches_of_a_clip_nvdec_refuses_are_on_the_gpu_too(tiny_hevc):
    # Not a skipif mark: the clip is made here first, so that scripts/gpu-prepare carries it.
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch")
    it = vidinfer.batches(tiny_hevc, device="cuda", input_size=32, batch=8)
    g = list(it)
    assert "GPU decoder not used" in it.summary["inputs"][0]["decoder"], it.summary["inputs"][0]["decoder"]
    assert g and all(b.tensor.is_cuda for b in g)
    assert it.summary["host_to_device_bytes"] > 0
    c = list(vidinfer.batches(tiny_hevc, device="cpu", input_size=32, batch=8))
    assert [f for b in g for f in b.frames] == [f for b in c for f in b.frames]
    # The same CPU decoding and preprocessing, copied to the GPU: the same values.
    assert torch.equal(torch.cat([b.tensor.cpu() for b in g]), torch.cat([b.tensor for b in c]))


@needs_gpu
def test_gpu_bfloat16_batches_on_the_callers_stream(moving):
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        g = [b.tensor for b in vidinfer.batches(moving, device="cuda", input_size=64, batch=8,
                                                dtype=torch.bfloat16)]
        total = sum(t.float().sum() for t in g)  # queued on s, after the copies
    torch.cuda.synchronize()
    assert all(t.dtype == torch.bfloat16 for t in g) and torch.isfinite(total)
