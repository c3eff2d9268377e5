"""Griffin-Lim: mel -> linear magnitude by non-negative least squares, then fast Griffin-Lim phase reconstruction
(Perraudin et al. 2013), in any mel convention, chunk by chunk for long clips."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.audio.conventions import MelConvention, mel_to_magnitude
from workflow_scripts.pipeline.vocoder_options import GriffinLimOptions
from workflow_scripts.vocoders.base import Vocoder
from workflow_scripts.vocoders.chunking import Chunk, place_chunk, plan_chunks

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
