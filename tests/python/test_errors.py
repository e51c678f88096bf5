"""Errors and stopping: one-line vidinfer.Error with the CLI's words, bad inputs that fail alone,
early break and Ctrl-C without hangs or leaked threads."""
import os
import signal
import threading
import time
import warnings

import pytest

import vidinfer


def threads():
    return len(os.listdir("/proc/self/task"))


def test_error_is_a_runtime_error_with_one_line():
    assert issubclass(vidinfer.Error, RuntimeError)
    with pytest.raises(vidinfer.Error) as e:
        vidinfer.probe("/nonexistent/clip.mp4")
    assert "/nonexistent/clip.mp4" in str(e.value) and "\n" not in str(e.value)


def test_bad_options_raise_before_any_frame(moving):
    for kw, words in ((dict(resize="zoom"), "zoom"), (dict(device="tpu"), "tpu"), (dict(batch=0), "batch"),
                      (dict(on_error="ignore"), "on_error"), (dict(std=(0, 1, 1)), "std"),
                      (dict(segments=4), "segments")):
        with pytest.raises(vidinfer.Error, match=words):
            vidinfer.batches(moving, **{"device": "cpu", **kw})
    with pytest.raises(vidinfer.Error, match="model"):
        vidinfer.run(moving, model=None)
    with pytest.raises(vidinfer.Error, match="file not found"):
        vidinfer.run(moving, model="/nonexistent/m.pt")


def test_a_bad_input_fails_alone(moving, workdir):
    junk = os.path.join(workdir, "junk.mp4")
    with open(junk, "wb") as f:
        f.write(b"not a video" * 100)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        frames = [f for b in vidinfer.batches([junk, moving, "/nonexistent.mp4"], device="cpu", input_size=16)
                  for f in b.frames]
    assert frames == list(range(30))
    msgs = [str(x.message) for x in w if issubclass(x.category, vidinfer.VidinferWarning)]
    assert len(msgs) == 2 and any("junk.mp4" in m for m in msgs) and any("nonexistent" in m for m in msgs)
    with pytest.raises(vidinfer.Error, match="junk.mp4"):
        list(vidinfer.batches([junk, moving], device="cpu", input_size=16, on_error="fail"))


def test_probe(moving):
    p = vidinfer.probe(moving)
    assert p["codec"] == "h264" and p["width"] == 96 and p["height"] == 64


def test_early_break_frees_the_run(moving):
    before = threads()
    for _ in range(3):
        for b in vidinfer.batches([moving] * 4, device="cpu", input_size=16, batch=2):
            break
        it = vidinfer.batches([moving] * 4, device="cpu", input_size=16, batch=2)
        next(it)
        it.close()
        with vidinfer.batches([moving] * 4, device="cpu", input_size=16, batch=2) as it2:
            next(it2)
    import gc
    gc.collect()
    assert threads() <= before + 1  # LibTorch may keep one pool thread


def test_ctrl_c_stops_the_run_and_raises_keyboard_interrupt(moving, classifier):
    """SIGINT while the caller waits in next() (the model is slow): KeyboardInterrupt there, and the
    run stops soon after (what is in flight finishes)."""
    _, eager = classifier

    def slow(x):
        time.sleep(0.05)  # without the GIL, as a model on a GPU would wait
        return eager(x)
    it = vidinfer.run([moving] * 8, model=slow, device="cpu", input_size=16, batch=1)
    next(it)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        for _ in it:
            pass
    it.close()
    timer.join()
    assert time.monotonic() - t0 < 5  # 240 frames at 0.05 s would take 12 s
