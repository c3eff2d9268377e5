"""Shared test helpers: the device tests compute on, synthetic signals and a real Snakemake run in a temporary
working directory.

The device: ``pytest --device cuda`` (or ``STYLE_TRANSFER_TEST_DEVICE=cuda``; the option wins) runs every test
that computes on a device there: library tests through the :func:`device` fixture, and the pipeline runs through
the ``device`` of :func:`tiny_config`. The default is ``cpu``. Asking for cuda where no GPU is visible stops the
run before any test, with one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
DEVICE_VARIABLE = "STYLE_TRANSFER_TEST_DEVICE"
DEVICES = ("cpu", "cuda")
# The device of this run, set once by pytest_configure (from --device, else the variable, else cpu).
TEST_DEVICE = "cpu"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        choices=DEVICES,
        default=None,
        help=f"device the tests compute on (default: ${DEVICE_VARIABLE}, else cpu); cuda needs a visible GPU",
    )


def pytest_configure(config: pytest.Config) -> None:
    global TEST_DEVICE
    requested = config.getoption("--device") or os.environ.get(DEVICE_VARIABLE) or "cpu"
    if requested not in DEVICES:
        raise pytest.UsageError(f"{DEVICE_VARIABLE}={requested!r}: use one of {', '.join(DEVICES)}")
    if requested == "cuda":
        import torch

        from workflow_scripts.transfer.device import configure_cuda

        if not torch.cuda.is_available():
            raise pytest.UsageError(
                "device cuda requested (--device or $STYLE_TRANSFER_TEST_DEVICE), but torch sees no CUDA device "
                "(torch.cuda.is_available() is False); run on a GPU machine or use --device cpu"
            )
        configure_cuda(deterministic=True)  # as the pipeline's jobs do (config deterministic: true, the default)
    TEST_DEVICE = requested


def pytest_report_header() -> str:
    return f"device: {TEST_DEVICE}"


@pytest.fixture(scope="session")
def device():
    """The torch device every device-taking test computes on (--device / $STYLE_TRANSFER_TEST_DEVICE)."""
    import torch

    return torch.device(TEST_DEVICE)


def harmonic(seconds: float, sr: int, f0: float = 150.0, partials: int = 12, vibrato: float = 0.0) -> np.ndarray:
    """Voiced, speech-like harmonic tone with decaying partials (webrtcvad detects it as speech)."""
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1.0 + vibrato * np.sin(2 * np.pi * 5.0 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, partials + 1) if k * f0 < sr / 2)
    return (0.5 * tone / np.max(np.abs(tone))).astype(np.float32)


def chirp(seconds: float, sr: int, f_start: float = 200.0, f_end: float = 4000.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * (f_start * t + (f_end - f_start) * t**2 / (2 * seconds))
    return (0.5 * np.sin(phase)).astype(np.float32)


def noise_bursts(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal(int(seconds * sr)) * 0.2
    gate = (np.arange(len(signal)) // int(0.1 * sr)) % 2 == 0
    return (signal * gate).astype(np.float32)


def silence(seconds: float, sr: int) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


@pytest.fixture(scope="module")
def melody_and_style() -> tuple[np.ndarray, np.ndarray]:
    """Unit-scale hifigan mels: content, four notes with rests (120 frames); style, a bright tone with vibrato (86
    frames)."""
    from workflow_scripts.audio.conventions import HIFIGAN

    sr = HIFIGAN.sample_rate
    notes = [np.concatenate([harmonic(0.25, sr, f0=f0, vibrato=0.02), silence(0.1, sr)]) for f0 in (180, 240, 300, 200)]
    style = harmonic(1.0, sr, f0=330, partials=25, vibrato=0.03)
    return HIFIGAN.unit_mel(np.concatenate(notes)), HIFIGAN.unit_mel(style)


def gatys_pair(content, style, backbone, options, device="cpu", progress=False, on_step=None):
    """``gatys`` of one pair, a batch of one; ``style`` is a unit-scale mel or its Gram targets."""
    from workflow_scripts.audio.conventions import HIFIGAN
    from workflow_scripts.transfer import gatys
    from workflow_scripts.transfer.interface import Content, Setup, StyleClip

    backbone = backbone.to(device)
    clip = StyleClip(style) if isinstance(style, dict) else StyleClip.from_mel(backbone, style)
    setup = Setup.of(backbone, HIFIGAN, options, device, progress)
    (result,) = gatys.transfer([Content(content)], clip, setup, on_step)
    return result


def knn_pair(
    content, style, content_f0, style_f0, targets, backbone, convention, options, device="cpu", progress=False
):
    """``knn`` of one pair through the method registry, a batch of one."""
    from workflow_scripts.transfer.interface import Content, Setup, StyleClip
    from workflow_scripts.transfer.methods import transfer_pair

    setup = Setup.of(backbone, convention, options, device, progress)
    return transfer_pair("knn", Content(content, content_f0), StyleClip(targets, style, style_f0), setup)


def write_wav(path: Path, audio: np.ndarray, sr: int, subtype: str = "FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.T if audio.ndim == 2 else audio, sr, subtype=subtype)
    return path


def tiny_config(**overrides) -> dict:
    """A config that runs the whole DAG in seconds: small random CNN, few iterations, on the test device."""
    config = {
        "clips": [
            {"id": "tone", "path": "audio/tone.wav", "vad": "energy", "role": "content"},
            {"id": "chirp", "path": "audio/chirp.wav", "vad": "energy", "role": "style"},
            {"id": "noise", "path": "audio/noise.wav", "vad": "none", "role": "style"},
        ],
        "pairs": "cross",
        # one job per pair on every device (batch_pairs auto would batch on a GPU): tests/test_batching.py runs
        # the batched jobs
        "transfer": {"iterations": 4, "batch_pairs": 0},
        "backbones": {"random_cnn": {"filters": 64, "width": 5}},
        "vocoders": {"griffinlim": {"iterations": 4, "nnls_iterations": 10}},
        "threads": 1,
        "device": TEST_DEVICE,
    }
    config.update(overrides)
    return config


def make_workdir(path: Path, config: dict) -> Path:
    """A working directory with the tiny corpus (16 kHz tone, 44.1 kHz stereo chirp, 22.05 kHz noise)."""
    write_wav(path / "audio/tone.wav", np.concatenate([silence(0.2, 16000), harmonic(1.0, 16000)]), 16000)
    stereo_chirp = np.stack([chirp(0.8, 44100), 0.5 * chirp(0.8, 44100)])
    write_wav(path / "audio/chirp.wav", stereo_chirp, 44100, subtype="PCM_16")
    write_wav(path / "audio/noise.wav", noise_bursts(0.6, 22050), 22050)
    write_config(path, config)
    return path


def write_config(path: Path, config: dict) -> None:
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake(workdir: Path, *args: str, check: bool = True, repo: Path = REPO) -> subprocess.CompletedProcess:
    """Run the real workflow on ``workdir`` (its own config.yaml) and return the finished process; ``repo`` is the
    checkout whose Snakefile and library run (a copy made by :func:`copy_workflow`, say)."""
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(repo / "Snakefile"),
        "--directory", str(workdir),
        "--cores", "2",
        *args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if repo != REPO:  # its workflow_scripts ahead of the installed (editable) one, in every job too
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
    # a copy's library must win over this checkout's, which `python -m` finds first from the current directory
    cwd = repo if repo != REPO else None
    process = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, cwd=cwd)
    if check and process.returncode != 0:
        raise AssertionError(f"snakemake failed ({process.returncode}):\n{process.stdout}\n{process.stderr}")
    return process


def copy_workflow(destination: Path) -> Path:
    """A copy of the workflow (Snakefile, rules, schema, library) to extend in a test as a contributor would."""
    destination.mkdir(parents=True)
    for name in ("Snakefile", "config.yaml", "rules", "schemas", "envs", "workflow_scripts"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    return destination


def output_mtimes(workdir: Path) -> dict[str, int]:
    """Modification times of every pipeline artifact (logs excluded)."""
    results = workdir / "results"
    return {
        str(p.relative_to(results)): p.stat().st_mtime_ns
        for p in results.rglob("*")
        if p.is_file() and "logs" not in p.parts
    }


@pytest.fixture(scope="session")
def built_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny pipeline, run once; tests that change it copy it first."""
    workdir = make_workdir(tmp_path_factory.mktemp("pipeline"), tiny_config())
    snakemake(workdir)
    return workdir
