"""vidinfer: video through PyTorch models with decode, preprocessing and batching on the GPU.

    import torch, vidinfer
    for b in vidinfer.batches(["a.mp4", "b.mp4"], input_size=224, dtype=torch.bfloat16, batch=32):
        logits = model(b.tensor)          # [B,3,224,224] on the GPU, normalised
        ...                               # b.inputs[i], b.frames[i], b.pts[i]: row i's frame

    for r in vidinfer.run(["a.mp4"], model=my_module, task="classify"):
        print(r)                          # the CLI's JSON Lines objects, as dicts

See docs/python.md.
"""
import json
import os
import warnings

import torch

from . import _build_info

__all__ = ["batches", "run", "probe", "Batch", "Error", "VidinferWarning"]


def _major_minor(v):
    return tuple(v.split("+")[0].split(".")[:2])


if _major_minor(torch.__version__) != _major_minor(_build_info.TORCH_VERSION):
    raise ImportError(
        f"vidinfer was built against LibTorch {_build_info.TORCH_VERSION} but this Python imports "
        f"torch {torch.__version__}: the module links the LibTorch of the torch it is used with; "
        f"rebuild it with this Python (scripts/build -DVIDINFER_PYTHON=ON -DPython3_EXECUTABLE=...)"
    )

from ._vidinfer import Error, _Run, probe_json  # noqa: E402  (after torch: its libraries first)


class VidinferWarning(UserWarning):
    """An input that failed while the others went on (on_error="skip")."""


class Batch:
    """One model batch: `tensor` [B,3,H,W] on the run's device, and per row where its frame is from.

    `inputs[i]` (the path), `frames[i]` (frame index in that input, counting every decoded frame),
    `pts[i]` (seconds), `sizes[i]` ((width, height) of the decoded frame). The tensor is the
    caller's: no buffer is reused under it, and on a GPU it is ready on the stream that was
    current when the batch was taken.
    """

    __slots__ = ("tensor", "inputs", "frames", "pts", "sizes")

    def __init__(self, tensor, inputs, frames, pts, sizes):
        self.tensor, self.inputs, self.frames, self.pts, self.sizes = tensor, inputs, frames, pts, sizes

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return (f"vidinfer.Batch({len(self)} x {list(self.tensor.shape[1:])} {self.tensor.dtype} "
                f"on {self.tensor.device})")


_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def _dtype_name(dtype):
    if dtype is None or isinstance(dtype, str):
        return dtype
    if dtype not in _DTYPES:
        raise Error(f"invalid dtype {dtype}: expected torch.float32, torch.float16, torch.bfloat16"
                    + (" or torch.uint8" if dtype is not torch.float16 else ""))
    return _DTYPES[dtype]


def _inputs(inputs):
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [os.fspath(i) for i in inputs]
    if not inputs:
        raise Error("nothing to run: no inputs")
    return inputs


class _Stream:
    """The iterator batches() and run() return: also a context manager; close() stops the run."""

    def __init__(self, inputs, options, model, batches, uint8, on_error):
        self._inputs = inputs
        self._on_error = on_error
        self._run = _Run(inputs, options, model, batches, uint8)
        self._batches = batches
        self.summary = None  # the run summary (a dict, as `vidinfer run --summary` writes), at the end
        self.device = self._run.device

    def __iter__(self):
        return self

    def __next__(self):
        if self._run is None:
            raise StopIteration
        while True:
            item = self._run.next()
            if item is None:
                self.close()
                raise StopIteration
            kind = item[0]
            if kind == "batch":
                _, tensor, idx, frames, pts, sizes = item
                if tensor.is_cuda:  # the caching allocator must not reuse it under the caller's stream
                    tensor.record_stream(torch.cuda.current_stream(tensor.device))
                return Batch(tensor, [self._inputs[i] for i in idx], frames, pts, sizes)
            if kind == "frame":
                return json.loads(item[1])
            if kind == "input":
                record, ok = json.loads(item[1]), item[2]
                if not ok and self._on_error == "fail":
                    self.close()
                    raise Error(record.get("error", f"{record['input']}: failed"))
                if self._batches:
                    if not ok:
                        warnings.warn(record.get("error", record["input"]), VidinferWarning, stacklevel=2)
                    continue
                return record
            if kind == "summary":
                self.summary = json.loads(item[1])
                continue
            if kind == "failure":
                self.close()
                raise Error(item[1])

    def close(self):
        """Stops the run if it is still going (the batches in flight finish) and frees it."""
        run, self._run = getattr(self, "_run", None), None
        if run is not None:
            run.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _devices(devices):
    if devices is None or isinstance(devices, str):
        return devices
    return ",".join(str(d) for d in devices)  # torch.device("cuda:1") prints as cuda:1


def _live(duration, live_drop, max_batch_wait, reconnect, stall_timeout, rtsp_transport, live_pace, pace_stagger,
          max_lag):
    return _options(duration=duration, live_drop=live_drop, max_batch_wait=max_batch_wait, reconnect=reconnect,
                    stall_timeout=stall_timeout, rtsp_transport=rtsp_transport, live_pace=bool(live_pace),
                    pace_stagger=pace_stagger, max_lag=max_lag)


def _options(**kw):
    return {k: v for k, v in kw.items() if v is not None}


def batches(inputs, *, device="auto", input_size=224, resize="stretch", dtype=torch.float32, batch=32,
            mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), channels="rgb", every=1, start=None,
            end=None, max_frames=None, streams=0, segments=0, on_error="skip", decoder="auto",
            letterbox_fill=114, decode_threads=0, apply_rotation=False, devices=None, duration=None,
            live_drop=None, max_batch_wait=None, reconnect=None, stall_timeout=None, rtsp_transport=None,
            live_pace=False, pace_stagger=None, max_lag=None):
    """Decoded, resized and normalised frames of `inputs` as model batches (an iterator of Batch).

    Frames of several inputs fill the same batch (up to `streams` inputs decode at once). `dtype`:
    torch.float32/float16/bfloat16 (normalised with `mean`/`std`, on the 0..1 scale), or torch.uint8
    (the resized pixels, 0..255, no normalisation). Inputs are not split into segments here (a
    batch's frame indices are known when it is made): `segments` 0 or 1.
    `devices` ("cuda:0,cuda:1", a list of them, or "all"): one engine per GPU, each batch on the GPU
    that made it (see `.tensor.device`); in place of `device`.
    Live inputs (rtsp://, udp://, http(s)://, "-" ...; docs/live.md): `duration` (seconds per live
    input), `live_drop` ("when-full" or "none"), `max_batch_wait` (seconds), `max_lag` (seconds behind
    before a stream skips to its next keyframe; 0 never), `reconnect` (attempts,
    -1 no limit), `stall_timeout` (seconds), `rtsp_transport` ("tcp" or "udp"); `live_pace=True` reads
    files as cameras sending in real time, their starts spread over `pace_stagger` seconds (0: all at
    once). None: the CLI's defaults.
    A bad input: with on_error="skip" a VidinferWarning names it and the others go on; "fail"
    raises vidinfer.Error. Raises vidinfer.Error for a bad option.
    """
    uint8 = dtype is torch.uint8 or dtype == "uint8"
    if uint8:
        dtype, mean, std = torch.float32, (0.0, 0.0, 0.0), (1 / 255.0,) * 3
    opts = _options(device=device, input_size=input_size, resize=resize, dtype=_dtype_name(dtype),
                    batch=batch, mean=list(mean), std=list(std), channels=channels, every=every, start=start,
                    end=end, max_frames=max_frames, streams=streams, segments=segments, on_error=on_error,
                    decoder=decoder, letterbox_fill=letterbox_fill, decode_threads=decode_threads,
                    apply_rotation=apply_rotation, devices=_devices(devices),
                    **_live(duration, live_drop, max_batch_wait, reconnect, stall_timeout, rtsp_transport, live_pace,
                            pace_stagger, max_lag))
    return _Stream(_inputs(inputs), opts, None, True, uint8, on_error)


def run(inputs, *, model, task=None, device="auto", input_size=None, resize=None, dtype=None, batch=None,
        mean=None, std=None, channels=None, labels=None, topk=5, score_threshold=0.3, iou_threshold=0.5,
        max_detections=100, every=1, start=None, end=None, max_frames=None, streams=0, segments=0,
        on_error="skip", decoder="auto", letterbox_fill=None, decode_threads=0, apply_rotation=False,
        class_activation=None, detect_layout=None, box_format=None, boxes_normalized=None,
        score_activation=None, cpu_threads=0, cuda_graph=True, devices=None, duration=None, live_drop=None,
        max_batch_wait=None, reconnect=None, stall_timeout=None, rtsp_transport=None, live_pace=False,
        pace_stagger=None, max_lag=None):
    """Runs `model` over the frames of `inputs`: an iterator of dicts equal to the CLI's JSON Lines
    objects (a line per processed frame, then each input's end-of-input record).

    `model`: a model file, TorchScript or an AOTInductor package .pt2 (its sidecar MODEL.json is
    read as the CLI reads it; options given here override it), or any Python callable taking the
    batch tensor [B,3,H,W] (in `dtype`, on the device; valid during the call only) and returning
    what the task's head expects (a [B,C] tensor for classify; a detection layout for detect, see
    docs/models.md). None options: the sidecar's, else the CLI's default. After the end, `.summary`
    holds the run summary. `devices` ("cuda:0,cuda:1", a list, or "all"): one engine per GPU (a model
    file only: a callable lives on one device). Live inputs and their options (`duration`,
    `live_drop`, `max_batch_wait`, `max_lag`, `reconnect`, `stall_timeout`, `rtsp_transport`, `live_pace`,
    `pace_stagger`): as
    for batches(); a live input's frame dicts carry "received" and "latency_ms".
    """
    if model is None:
        raise Error("no model: run() needs model=, a TorchScript file (.pt) or a Python callable")
    model_path = None
    if isinstance(model, (str, os.PathLike)):
        model_path, model = os.fspath(model), None
    elif not callable(model):
        raise Error(f"invalid model {model!r}: expected a path or a callable")
    if dtype is torch.uint8:
        raise Error("invalid dtype torch.uint8: run() feeds a model; use batches() for uint8 frames")
    opts = _options(model_path=model_path, task=task, device=device,
                    input_size=list(input_size) if isinstance(input_size, (tuple, list)) else input_size,
                    resize=resize, dtype=_dtype_name(dtype), batch=batch,
                    mean=list(mean) if mean is not None else None, std=list(std) if std is not None else None,
                    channels=channels, labels=labels, topk=topk, score_threshold=score_threshold,
                    iou_threshold=iou_threshold, max_detections=max_detections, every=every, start=start,
                    end=end, max_frames=max_frames, streams=streams, segments=segments, on_error=on_error,
                    decoder=decoder, letterbox_fill=letterbox_fill, decode_threads=decode_threads,
                    apply_rotation=apply_rotation, class_activation=class_activation,
                    detect_layout=detect_layout, box_format=box_format, boxes_normalized=boxes_normalized,
                    score_activation=score_activation, cpu_threads=cpu_threads, cuda_graph=cuda_graph,
                    devices=_devices(devices),
                    **_live(duration, live_drop, max_batch_wait, reconnect, stall_timeout, rtsp_transport, live_pace,
                            pace_stagger, max_lag))
    return _Stream(_inputs(inputs), opts, model, False, False, on_error)


def probe(path):
    """Stream facts of one input, as `vidinfer probe` prints them (a dict). Raises vidinfer.Error."""
    return json.loads(probe_json(os.fspath(path)))
