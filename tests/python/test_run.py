"""vidinfer.run(): results equal to the CLI's JSON Lines; a Python callable equal to the same model
as TorchScript; records of failed inputs; summary."""
import json
import subprocess

import pytest
import torch

import vidinfer
from conftest import MeanColour, needs_gpu


def cli_lines(cli, args, out):
    r = subprocess.run([cli, "run", *args, "-o", out, "--quiet"], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return [json.loads(l) for l in open(out)]


def test_equal_to_the_cli_json_lines(moving, red, classifier, cli, workdir):
    path, _ = classifier
    args = ["--model", path, "--task", "classify", "--device", "cpu", "--batch", "4", "--input-size", "48",
            "--topk", "3", "--streams", "1"]
    want = cli_lines(cli, args + [moving, red], f"{workdir}/cli-run.jsonl")
    got = list(vidinfer.run([moving, red], model=path, task="classify", device="cpu", batch=4, input_size=48,
                            topk=3, streams=1))
    assert got == want
    assert sum("end_of_input" in r for r in got) == 2


def test_a_python_callable_equals_the_same_torchscript_model(moving, classifier):
    path, eager = classifier
    kw = dict(task="classify", device="cpu", batch=8, input_size=64, topk=4)
    from_file = list(vidinfer.run(moving, model=path, **kw))
    from_module = list(vidinfer.run(moving, model=eager, **kw))
    calls = []
    from_lambda = list(vidinfer.run(moving, model=lambda x: calls.append(x.shape) or eager(x), **kw))
    frames = [r for r in from_file if "frame" in r]
    assert len(frames) == 30
    for a, b, c in zip(from_file, from_module, from_lambda):
        if "frame" not in a:
            assert a == b == c
            continue
        assert a["frame"] == b["frame"] == c["frame"] and a["pts"] == b["pts"]
        for x, y in zip(a["classes"], b["classes"]):
            assert x["class_id"] == y["class_id"] and x["score"] == pytest.approx(y["score"], abs=1e-5)
    # Its batches: the warm-up's full one (only on a GPU), then 8, 8, 8, 6 frames.
    assert [s[0] for s in calls][-4:] == [8, 8, 8, 6] and all(tuple(s[1:]) == (3, 64, 64) for s in calls)


def test_sidecar_is_read_and_options_override_it(moving, classifier, workdir):
    path, eager = classifier
    side = f"{workdir}/side.pt"
    torch.jit.script(eager).save(side)
    with open(side + ".json", "w") as f:
        json.dump({"task": "classify", "input_size": 40, "batch": 5, "labels": ["a", "b", "c", "d"]}, f)
    r = [x for x in vidinfer.run(moving, model=side, device="cpu", max_frames=3) if "frame" in x]
    assert len(r) == 3 and r[0]["classes"][0]["label"] in "abcd"
    r = [x for x in vidinfer.run(moving, model=side, device="cpu", max_frames=3, labels=["w", "x", "y", "z"])
         if "frame" in x]
    assert r[0]["classes"][0]["label"] in "wxyz"


def test_detections_from_a_callable(red):
    """A detector written in Python: one box per frame, in the boxes/scores/labels layout."""
    def detector(x):
        b = x.shape[0]
        boxes = torch.tensor([[8.0, 8.0, 24.0, 16.0]]).expand(b, 1, 4)
        scores = x.float().mean(dim=(1, 2, 3)).sigmoid().unsqueeze(1)
        return boxes, scores, torch.full((b, 1), 2, dtype=torch.long)
    out = [r for r in vidinfer.run(red, model=detector, task="detect", device="cpu", input_size=32,
                                   score_threshold=0.0) if "frame" in r]
    assert len(out) == 12
    d = out[0]["detections"]
    assert len(d) == 1 and d[0]["class_id"] == 2
    # Model input 32x32 (stretch) -> frame 96x64: x scaled by 3, y by 2.
    assert d[0]["box"] == pytest.approx([24, 16, 72, 32], abs=0.01)


def test_detections_as_a_list_of_per_image_dicts(red):
    """torchvision's layout, [{"boxes", "scores", "labels"}] per image: the same boxes as the tuple."""
    def detector(x):
        return [{"boxes": torch.tensor([[8.0, 8.0, 24.0, 16.0]]), "scores": torch.tensor([0.9]),
                 "labels": torch.tensor([5])} for _ in range(x.shape[0])]
    out = [r for r in vidinfer.run(red, model=detector, task="detect", device="cpu", input_size=32,
                                   score_threshold=0.5) if "frame" in r]
    assert len(out) == 12
    d = out[0]["detections"]
    assert len(d) == 1 and d[0]["class_id"] == 5
    assert d[0]["box"] == pytest.approx([24, 16, 72, 32], abs=0.01)


def test_an_output_that_is_not_tensors_is_named(red):
    recs = list(vidinfer.run(red, model=lambda x: (x.float().mean(), {x.shape[0]}), device="cpu"))
    ends = [r for r in recs if "end_of_input" in r]
    assert len(ends) == 1 and ends[0]["status"] == "failed"
    assert "item 1 of a tuple is a set" in ends[0]["error"], ends


def test_a_failing_callable_fails_each_input_with_its_message(moving, red):
    def broken(x):
        raise ValueError("no weights loaded")
    recs = list(vidinfer.run([moving, red], model=broken, device="cpu"))
    ends = [r for r in recs if "end_of_input" in r]
    assert len(ends) == 2 and all(r["status"] == "failed" for r in ends)
    assert all("ValueError: no weights loaded" in r["error"] for r in ends), ends


@needs_gpu
def test_gpu_callable_and_compiled_module_equal_torchscript(moving):
    m = MeanColour().cuda().eval()
    ts = torch.jit.script(m)
    kw = dict(task="classify", device="cuda", batch=8, input_size=64, topk=1, dtype=torch.float32)
    a = [r for r in vidinfer.run(moving, model=ts, **kw) if "frame" in r]
    b = [r for r in vidinfer.run(moving, model=m, **kw) if "frame" in r]
    assert [r["classes"][0]["class_id"] for r in a] == [r["classes"][0]["class_id"] for r in b]
    it = vidinfer.run(moving, model=m, **kw)
    list(it)
    assert it.summary["host_to_device_bytes"] == 0 and it.summary["device"].startswith("cuda")


def test_two_engines_give_what_one_gives_per_input(moving, red, moving_hevc, classifier):
    path, eager = classifier
    kw = dict(task="classify", batch=4, input_size=48, topk=3)
    inputs = [moving, red, moving_hevc]

    def per_input(results):
        out = {}
        for r in results:
            out.setdefault(r["input"], []).append(r)
        return out

    one = per_input(vidinfer.run(inputs, model=path, device="cpu", **kw))
    it = vidinfer.run(inputs, model=path, devices=["cpu", "cpu"], **kw)
    two = per_input(it)
    assert set(two) == set(inputs)
    for name in inputs:
        *frames, record = two[name]
        assert record["end_of_input"] and record.pop("device") == "cpu"
        assert two[name] == one[name], name
    assert [d["device"] for d in it.summary["devices"]] == ["cpu", "cpu"]
    assert sum(d["frames"] for d in it.summary["devices"]) == it.summary["frames"] > 0
    with pytest.raises(vidinfer.Error, match="one device"):
        list(vidinfer.run(moving, model=eager, devices="cpu,cpu", **kw))
