"""Live inputs from Python: a file read as a camera (live_pace) gives the file's results plus each
frame's receive time and latency, in real time, with the live summary; bad live options are errors."""
import time

import pytest

import vidinfer
from conftest import MeanColour


def test_a_paced_file_gives_the_file_results_with_receive_times(moving):
    kw = dict(model=MeanColour(), task="classify", device="cpu", batch=4, input_size=32, topk=2)
    want = [r for r in vidinfer.run(moving, **kw) if "frame" in r]
    t0 = time.monotonic()
    it = vidinfer.run(moving, live_pace=True, live_drop="none", max_batch_wait=0.01, **kw)
    got = list(it)
    took = time.monotonic() - t0
    frames = [r for r in got if "frame" in r]
    assert took >= 1.1  # 30 frames at 25 fps arrive in real time
    assert len(frames) == len(want) == 30
    for g, w in zip(frames, want):
        assert g["received"] > 0 and g["latency_ms"] >= 0
        assert {k: v for k, v in g.items() if k not in ("received", "latency_ms")} == w
    live = it.summary["inputs"][0]["live"]
    assert live["frames_received"] == 30 and live["frames_dropped"] == 0
    assert live["latency_ms"]["p99"] >= live["latency_ms"]["p50"] > 0


@pytest.mark.parametrize("bad, message", [
    (dict(live_drop="sometimes"), "sometimes"),
    (dict(rtsp_transport="http"), "invalid rtsp_transport 'http': expected tcp or udp"),
    (dict(stall_timeout=-1), "invalid stall_timeout"),
    (dict(reconnect=-2), "invalid reconnect"),
    (dict(duration=-1), "invalid duration"),
])
def test_bad_live_options_are_errors(moving, bad, message):
    with pytest.raises(vidinfer.Error, match=message):
        list(vidinfer.batches(moving, device="cpu", **bad))
