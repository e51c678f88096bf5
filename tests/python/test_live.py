"""Live inputs from Python: a file read as a camera (live_pace) gives the file's results plus each
frame's receive time and latency, in real time, with the live summary; a recording over HTTP is read as
its file is; bad live options are errors."""
import shutil
import socket
import subprocess
import sys
import time

import pytest

import vidinfer
from conftest import FFMPEG, MeanColour


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


def test_pace_stagger_spreads_the_paced_files_starts(moving, tmp_path):
    # Two cameras: the second starts frac(1 x 0.618) x 2 s = 1.24 s after the first; the wait is
    # not latency, and each gives the file's frames.
    a, b = str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")
    shutil.copy(moving, a)
    shutil.copy(moving, b)
    kw = dict(model=MeanColour(), task="classify", device="cpu", batch=4, input_size=32, topk=2, streams=2,
              live_pace=True, live_drop="none", max_batch_wait=0.01)
    frames = [r for r in vidinfer.run([a, b], pace_stagger=2.0, **kw) if "frame" in r]
    first = {p: min(r["received"] for r in frames if r["input"] == p) for p in (a, b)}
    assert 0.9 <= first[b] - first[a] <= 1.7
    assert max(r["latency_ms"] for r in frames) < 1000
    assert sorted(r["frame"] for r in frames if r["input"] == a) == list(range(30))
    assert sorted(r["frame"] for r in frames if r["input"] == b) == list(range(30))


def test_a_recording_over_http_is_read_as_its_file(moving, tmp_path):
    # An MP4 on a web server states its length: a recording, not a camera. Every frame is read with
    # the live defaults (no wait for a batch slot: a live input would lose what the model is not ready
    # for), without receive times, and the summary has no "live".
    if FFMPEG is None:
        pytest.skip("no ffmpeg to put the clip's index first (Debian: ffmpeg)")
    site = tmp_path / "site"
    site.mkdir()
    mp4 = str(site / "clip.mp4")  # (Python's http.server sends no parts of files: the index goes first)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", moving, "-c", "copy", "-movflags", "+faststart", mp4], check=True)
    kw = dict(model=MeanColour(), task="classify", device="cpu", batch=4, input_size=32, topk=2)
    want = [r for r in vidinfer.run(mp4, **kw) if "frame" in r]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # (it takes a moment to listen)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/clip.mp4"
        it = vidinfer.run(url, max_batch_wait=0, **kw)
        got = [r for r in it if "frame" in r]
    finally:
        server.kill()
        server.wait()
    assert len(got) == len(want) == 30
    for g, w in zip(got, want):
        assert g["input"] == url
        assert {k: v for k, v in g.items() if k != "input"} == {k: v for k, v in w.items() if k != "input"}
    assert "live" not in it.summary["inputs"][0]


@pytest.mark.parametrize("bad, message", [
    (dict(pace_stagger=-1), "invalid pace_stagger"),
    (dict(live_drop="sometimes"), "sometimes"),
    (dict(rtsp_transport="http"), "invalid rtsp_transport 'http': expected tcp or udp"),
    (dict(stall_timeout=-1), "invalid stall_timeout"),
    (dict(reconnect=-2), "invalid reconnect"),
    (dict(duration=-1), "invalid duration"),
    (dict(max_lag=-1), "invalid max_lag"),
])
def test_bad_live_options_are_errors(moving, bad, message):
    with pytest.raises(vidinfer.Error, match=message):
        list(vidinfer.batches(moving, device="cpu", **bad))
