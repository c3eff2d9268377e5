"""Mel-spectrogram conventions: the single place where every mel parameter is written (the names and sample rates,
which the Snakefile plans with, are in :mod:`workflow_scripts.pipeline.options`, which does not import torch).

A *convention* fixes everything between a waveform and the feature matrix a vocoder was trained on: sample rate,
STFT framing, mel filterbank and magnitude compression. Style transfer happens in the convention of the vocoder
that renders the result, so a mel is never vocoded in a convention it was not made in.

Features are ``(n_mels, frames)`` float32 arrays. Every convention also maps its features to a common *unit* scale
(decibels above the convention's magnitude floor, divided by 100: silence is 0, a loud partial is about 1) that the
style-transfer backbones consume, so loss weights do not depend on the convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import torch

from workflow_scripts.audio.filterbank import mel_filterbank
from workflow_scripts.pipeline.options import CONVENTION_SAMPLE_RATES, EVALUATION_CONVENTION

# Unit scale: 100 dB of dynamic range above the floor maps to [0, 1].
UNIT_DB_RANGE = 100.0


def unit_to_amplitude(unit: torch.Tensor) -> torch.Tensor:
    """Linear amplitude of unit-scale features, relative to the top of the unit range (``unit = 1`` gives 1).

    For the hifigan convention this is the mel magnitude itself (its floor 1e-5 lies 100 dB below 1).
    """
    return torch.pow(10.0, (unit - 1.0) * (UNIT_DB_RANGE / 20.0))


@dataclass(frozen=True)
class LogCompression:
    """``feature = ln(max(mel, floor))`` (jik876 HiFi-GAN ``dynamic_range_compression``)."""

    floor: float = 1e-5

    def compress(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.clamp(mel, min=self.floor))

    def expand(self, features: torch.Tensor) -> torch.Tensor:
        return torch.exp(features)

    def to_unit(self, features: torch.Tensor) -> torch.Tensor:
        return (features - math.log(self.floor)) * (20.0 / math.log(10.0)) / UNIT_DB_RANGE

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        return torch.clamp(unit, min=0.0) * UNIT_DB_RANGE * (math.log(10.0) / 20.0) + math.log(self.floor)


@dataclass(frozen=True)
class DecibelCompression:
    """``clip((20 log10(max(mel, floor)) - ref_level_db - min_level_db) / -min_level_db, 0, 1)`` (r9y9 WaveNet)."""

    floor: float = 1e-5
    ref_level_db: float = 20.0
    min_level_db: float = -100.0

    def compress(self, mel: torch.Tensor) -> torch.Tensor:
        db = 20.0 * torch.log10(torch.clamp(mel, min=self.floor)) - self.ref_level_db
        return torch.clamp((db - self.min_level_db) / -self.min_level_db, 0.0, 1.0)

    def expand(self, features: torch.Tensor) -> torch.Tensor:
        db = features * -self.min_level_db + self.min_level_db + self.ref_level_db
        return torch.pow(10.0, db / 20.0)

    def to_unit(self, features: torch.Tensor) -> torch.Tensor:
        return features * (-self.min_level_db / UNIT_DB_RANGE)

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        return torch.clamp(unit * (UNIT_DB_RANGE / -self.min_level_db), 0.0, 1.0)


@dataclass(frozen=True)
class MelConvention:
    """STFT framing, mel filterbank and compression of one vocoder's training features.

    Framing follows jik876's HiFi-GAN: the waveform is reflect-padded by ``(n_fft - hop_length) / 2`` on each
    side and framed without centring, so a clip of ``L`` samples gives ``L // hop_length`` frames and frame ``k``
    covers samples ``[k * hop, (k + 1) * hop)``.
    """

    name: str
    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    fmin: float
    fmax: float
    compression: LogCompression | DecibelCompression
    note: str = ""

    @property
    def padding(self) -> int:
        return (self.n_fft - self.hop_length) // 2

    def frames_for(self, num_samples: int) -> int:
        return (num_samples + 2 * self.padding - self.n_fft) // self.hop_length + 1

    def frame_times(self, frames: int) -> np.ndarray:
        """Centre of each frame in seconds: frame ``k`` covers samples ``[k * hop, (k + 1) * hop)``."""
        return (np.arange(frames) + 0.5) * self.hop_length / self.sample_rate

    def window(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.hann_window(self.win_length, device=device)

    def mel_basis(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Slaney-normalised mel filterbank, ``(n_mels, n_fft // 2 + 1)``."""
        return torch.from_numpy(_mel_basis(self)).to(device)

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(..., n_fft // 2 + 1, frames)`` of ``(..., samples)`` audio in this framing."""
        shape = audio.shape
        if shape[-1] < self.n_fft:
            raise ValueError(f"{shape[-1]} samples is shorter than one {self.name} analysis window ({self.n_fft})")
        flat = audio.reshape(-1, 1, shape[-1])
        padded = torch.nn.functional.pad(flat, (self.padding, self.padding), mode="reflect").squeeze(1)
        spec = torch.stft(
            padded,
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window(audio.device),
            center=False,
            return_complex=True,
        )
        return spec.reshape(*shape[:-1], *spec.shape[-2:])

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`stft` (weighted overlap-add); returns ``frames * hop_length`` samples."""
        frames = spec.shape[-1]
        window, envelope = _istft_window(self, frames, spec.device)
        segments = torch.fft.irfft(spec, n=self.n_fft, dim=-2)[..., : self.win_length, :] * window[:, None]
        total = (frames - 1) * self.hop_length + self.win_length
        audio = _overlap_add(segments, self.hop_length, total) / envelope
        return audio[..., self.padding : self.padding + frames * self.hop_length]

    def magnitude_to_features(self, magnitude: torch.Tensor) -> torch.Tensor:
        return self.compression.compress(self.mel_basis(magnitude.device) @ magnitude)

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Features ``(n_mels, frames)`` of mono float audio already at :attr:`sample_rate`."""
        magnitude = self.stft(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))).abs()
        return self.magnitude_to_features(magnitude).numpy().astype(np.float32)

    def to_mel(self, features: torch.Tensor) -> torch.Tensor:
        """Linear-amplitude mel energies from features (inverse of the compression, floor included)."""
        return self.compression.expand(features)

    def to_unit(self, features: torch.Tensor) -> torch.Tensor:
        return self.compression.to_unit(features)

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        """Features from unit scale, clamped to the range the compression can produce."""
        return self.compression.from_unit(unit)

    def to_unit_array(self, features: np.ndarray) -> np.ndarray:
        """:meth:`to_unit` of a features array (as the pipeline stores them), as a float32 array."""
        return self.to_unit(torch.from_numpy(np.asarray(features, dtype=np.float32))).numpy()

    def from_unit_array(self, unit: np.ndarray) -> np.ndarray:
        """:meth:`from_unit` of a unit-scale array, as a float32 array."""
        return self.from_unit(torch.from_numpy(np.asarray(unit, dtype=np.float32))).numpy()

    def unit_mel(self, audio: np.ndarray) -> np.ndarray:
        """Unit-scale features ``(n_mels, frames)`` of mono float audio at :attr:`sample_rate`."""
        return self.to_unit_array(self.features(audio))


@lru_cache(maxsize=16)
def _istft_window(convention: MelConvention, frames: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The synthesis window and the envelope (at least 1e-8) of an inverse STFT of ``frames`` frames (the overlap-added
    squared window), made once per length and device: Griffin-Lim inverts the same framing on every iteration."""
    window = convention.window(device)
    total = (frames - 1) * convention.hop_length + convention.win_length
    envelope = _overlap_add((window**2)[:, None].expand(-1, frames), convention.hop_length, total)
    return window, torch.clamp(envelope, min=1e-8)


def _overlap_add(segments: torch.Tensor, hop: int, total: int) -> torch.Tensor:
    """Overlap-add ``(..., width, frames)`` segments with stride ``hop`` into ``(..., total)`` samples.

    Each segment is cut into ``ceil(width / hop)`` hop-long blocks and block ``j`` of every frame is added in one
    shifted slice, so the work is a few vectorised adds rather than a per-sample scatter (``fold`` was 20x slower).
    """
    width, frames = segments.shape[-2:]
    blocks = -(-width // hop)
    per_frame = segments.transpose(-1, -2)
    if width % hop:
        per_frame = torch.nn.functional.pad(per_frame, (0, blocks * hop - width))
    # a view when the segments are broadcast (the window envelope): nothing of size frames x width is made
    per_frame = per_frame.reshape(*segments.shape[:-2], frames, blocks, hop)
    out = segments.new_zeros(*segments.shape[:-2], frames + blocks - 1, hop)
    for block in range(blocks):
        out[..., block : block + frames, :] += per_frame[..., block, :]
    return out.flatten(-2)[..., :total]


# Frames solved together by mel_to_magnitude. Frames are independent; blocks that stay in cache solve a 5-minute
# clip 5x faster than one pass over all its frames.
NNLS_BLOCK_FRAMES = 1024


def mel_to_magnitude(mel: torch.Tensor, convention: MelConvention, iterations: int = 200) -> torch.Tensor:
    """Non-negative least-squares estimate of ``|STFT|`` from mel energies ``(n_mels, frames)``.

    Minimises ``||B S - mel||^2`` over ``S >= 0`` (``B``: the mel filterbank) with accelerated projected gradient
    (FISTA), started from the clamped pseudo-inverse solution, :data:`NNLS_BLOCK_FRAMES` frames at a time.
    """
    basis = convention.mel_basis(mel.device)
    pseudo_inverse, step = _nnls_operators(convention)
    pseudo_inverse = torch.from_numpy(pseudo_inverse).to(mel.device)
    blocks = []
    for block in mel.split(NNLS_BLOCK_FRAMES, dim=-1):
        target = basis.T @ block
        estimate = torch.clamp(pseudo_inverse @ block, min=0.0)
        previous, momentum = estimate, 1.0
        for _ in range(iterations):
            next_momentum = (1.0 + (1.0 + 4.0 * momentum**2) ** 0.5) / 2.0
            extrapolated = estimate + ((momentum - 1.0) / next_momentum) * (estimate - previous)
            previous = estimate
            # B^T (B x) rather than (B^T B) x: two thin products, a third of the work with 80 bands and 513 bins
            estimate = torch.clamp(extrapolated - step * (basis.T @ (basis @ extrapolated) - target), min=0.0)
            momentum = next_momentum
        blocks.append(estimate)
    return torch.cat(blocks, dim=-1)


@cache
def _nnls_operators(convention: MelConvention) -> tuple[np.ndarray, float]:
    """The mel filterbank's pseudo-inverse and the projected-gradient step ``1 / ||B||_2^2``, computed once per
    convention on the CPU: on a GPU the SVDs behind them would load cuSOLVER and wait for the device in every job."""
    basis = torch.from_numpy(_mel_basis(convention))
    return torch.linalg.pinv(basis).numpy(), float(1.0 / torch.linalg.matrix_norm(basis, ord=2) ** 2)


@cache
def _mel_basis(convention: MelConvention) -> np.ndarray:
    return mel_filterbank(convention.sample_rate, convention.n_fft, convention.n_mels, convention.fmin, convention.fmax)


HIFIGAN = MelConvention(
    name="hifigan",
    sample_rate=CONVENTION_SAMPLE_RATES["hifigan"],
    n_fft=1024,
    win_length=1024,
    hop_length=256,
    n_mels=80,
    fmin=0.0,
    fmax=8000.0,
    compression=LogCompression(floor=1e-5),
    note="jik876 HiFi-GAN V1 (meldataset.mel_spectrogram): natural log of clamp(mel @ |STFT|, 1e-5).",
)

WAVENET = MelConvention(
    name="wavenet",
    sample_rate=CONVENTION_SAMPLE_RATES["wavenet"],
    n_fft=1024,
    win_length=1024,
    hop_length=256,
    n_mels=80,
    fmin=125.0,
    fmax=7600.0,
    compression=DecibelCompression(floor=1e-5, ref_level_db=20.0, min_level_db=-100.0),
    note=(
        "r9y9 wavenet_vocoder 20180510 LJSpeech: normalised dB mel. r9y9 computed the STFT with lws "
        "(mode 'speech'), which does not build here; this uses the same window, hop and framing as HiFi-GAN "
        "with torch's STFT, an approximation of lws's magnitudes."
    ),
)

CONVENTIONS: dict[str, MelConvention] = {c.name: c for c in (HIFIGAN, WAVENET)}

# Fixed feature space of the evaluation metrics: every output is re-analysed in it, whichever vocoder rendered it,
# so metrics compare across vocoders and backbones.
EVALUATION = CONVENTIONS[EVALUATION_CONVENTION]


def get_convention(name: str) -> MelConvention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown mel convention {name!r}; known: {', '.join(sorted(CONVENTIONS))}") from None
