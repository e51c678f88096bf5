"""Shared fixtures of the Python module's tests: clips made at test time with Debian's ffmpeg (known
content), a small TorchScript classifier made with the torch the module is imported with, and the
vidinfer CLI of the same build (to compare against)."""
import os
import shutil
import subprocess
import tempfile

import pytest
import torch

import vidinfer  # noqa: F401  (the build's package: PYTHONPATH=build/python, set by CTest)

FFMPEG = shutil.which("ffmpeg")


@pytest.fixture(scope="session")
def workdir():
    root = os.environ.get("VIDINFER_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    d = tempfile.mkdtemp(prefix="py-", dir=root)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def make_clip(path, source, frames, size="96x64", rate=25, codec="libx264"):
    """A clip of `frames` frames of an ffmpeg lavfi source; skips the test where ffmpeg can't."""
    if not os.path.exists(path):
        tmp = f"{path}.tmp{os.getpid()}.mp4"
        if FFMPEG is None:
            pytest.skip("no ffmpeg to make test clips (Debian: ffmpeg)")
        cmd = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}{':' if '=' in source else '='}size={size}:rate={rate}",
               "-frames:v", str(frames), "-c:v", codec, "-pix_fmt", "yuv420p", "-g", "10", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"ffmpeg cannot make {os.path.basename(path)}: {r.stderr.strip()[:300]}")
        # Whole or not at all: test processes that run at once share the clips, each writing its own
        # temporary file (one name for all let one process rename another's away).
        os.replace(tmp, path)
    return path


@pytest.fixture(scope="session")
def media():
    """Where the clips are kept between runs (CTest: build/testdata/media/py, which scripts/gpu-prepare
    carries to the GPU machine, whose FFmpeg cannot encode)."""
    d = os.environ.get("VIDINFER_TEST_MEDIA") or os.path.join(tempfile.gettempdir(), "vidinfer-py-media")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def moving(media):
    """30 frames of testsrc2 (moving content, so every frame differs)."""
    return make_clip(os.path.join(media, "moving.mp4"), "testsrc2", 30)


@pytest.fixture(scope="session")
def moving_hevc(media):
    # 160x144: NVDEC decodes HEVC from 144x144 up (a smaller clip goes to the CPU decoder there).
    return make_clip(os.path.join(media, "moving-hevc-160x144.mp4"), "testsrc2", 20, size="160x144", codec="libx265")


@pytest.fixture(scope="session")
def tiny_hevc(media):
    """HEVC below NVDEC's 144x144 minimum: the CPU decoder takes it, on a GPU run too."""
    return make_clip(os.path.join(media, "tiny-hevc-128x72.mp4"), "testsrc2", 12, size="128x72", codec="libx265")


@pytest.fixture(scope="session")
def red(media):
    """12 frames of solid red."""
    return make_clip(os.path.join(media, "red.mp4"), "color=c=red", 12)


class MeanColour(torch.nn.Module):
    """A 4-class classifier of the input's mean colour: small, deterministic, sensitive to every pixel."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.w = torch.nn.Parameter(torch.randn(3, 4, generator=g) * 2)
        self.b = torch.nn.Parameter(torch.randn(4, generator=g))

    def forward(self, x):
        m = x.float().mean(dim=(2, 3))
        return (m @ self.w + self.b).to(x.dtype)


@pytest.fixture(scope="session")
def classifier(workdir):
    """(path of its TorchScript file, the eager module)."""
    m = MeanColour().eval()
    path = os.path.join(workdir, "mean-colour.pt")
    torch.jit.script(m).save(path)
    return path, m


@pytest.fixture(scope="session")
def cli():
    exe = os.environ.get("VIDINFER_BIN")
    if not exe or not os.path.exists(exe):
        pytest.skip("VIDINFER_BIN (the build's vidinfer CLI) not set: run through CTest")
    return exe


def gpu():
    return torch.cuda.is_available()


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch")
