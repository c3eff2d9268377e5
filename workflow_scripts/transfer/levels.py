"""Levels of unit-scale mel frames and the gains feature matching sets after choosing its frames (steps 4 and 5
of :mod:`workflow_scripts.transfer.matching`): frame energy, silence and relative level (which also narrow the
candidates), the smooth spectral-shape gain and the loudness that follows the content's."""

from __future__ import annotations

import scipy.fft
import torch

from workflow_scripts.audio.conventions import UNIT_DB_RANGE

# DCT coefficients of the spectral-shape gain: smooth across bands, so it changes timbre, not individual partials.
SHAPE_COEFFICIENTS = 6
# A frame more than this far below its clip's loud frames (95th percentile of frame energy) is silence. A style's
# silent frames are matched only by silent content frames: the loudness step would otherwise lift a silent,
# spectrally flat frame by 60 dB or more into a broadband burst (seen on speech in the style of a clip with digital
# silence in it; docs/quality.md).
SILENCE_DB = 50.0


def frame_energy_db(unit_mel: torch.Tensor) -> torch.Tensor:
    """Energy of each frame in dB: ``10 log10`` of the mean mel power (as the metrics' envelope)."""
    db = unit_mel * UNIT_DB_RANGE
    return 10.0 * torch.log10(torch.mean(10.0 ** (db / 10.0), dim=0))


def relative_level_db(unit_mel: torch.Tensor) -> torch.Tensor:
    """Each frame's :func:`frame_energy_db` relative to the clip's loud frames (95th percentile), ``(frames,)``."""
    energy = frame_energy_db(unit_mel)
    return energy - torch.quantile(energy, 0.95)


def silent_frames(unit_mel: torch.Tensor) -> torch.Tensor:
    """Boolean per frame: more than :data:`SILENCE_DB` below the clip's 95th percentile of frame energy."""
    energy = frame_energy_db(unit_mel)
    return energy < torch.quantile(energy, 0.95) - SILENCE_DB


def quantile_map(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each value replaced by the ``reference`` value at the same quantile (rank order kept)."""
    ranks = torch.argsort(torch.argsort(values)).to(reference.dtype) / max(len(values) - 1, 1)
    return torch.quantile(reference, ranks)


def spectral_shape_gain(
    output: torch.Tensor, style: torch.Tensor, limit_db: float, smoothness: int = SHAPE_COEFFICIENTS
) -> torch.Tensor:
    """Smooth per-band gain (unit scale, ``(n_mels, 1)``) moving the output's band means towards the style's:
    the difference of their mean spectra (each relative to its overall mean) keeps ``smoothness`` DCT
    coefficients across bands and is clamped to ``limit_db``."""
    difference = (style.mean(dim=1) - style.mean()) - (output.mean(dim=1) - output.mean())
    coefficients = scipy.fft.dct(difference.cpu().numpy(), norm="ortho")
    coefficients[smoothness:] = 0.0
    smooth = torch.from_numpy(scipy.fft.idct(coefficients, norm="ortho")).to(output)
    return smooth.clamp(-limit_db / UNIT_DB_RANGE, limit_db / UNIT_DB_RANGE)[:, None]


def follow_loudness(
    output: torch.Tensor, content: torch.Tensor, style: torch.Tensor, loudness: float, quiet_db: float = 0.0
) -> torch.Tensor:
    """``output`` with each frame's energy set to ``w`` x the content's (dB) plus ``1 - w`` x the style's energy at
    the same quantile (all unit-scale mels). ``w`` is ``loudness``; with ``quiet_db`` > 0 it rises linearly to 1
    as the content frame falls from the content's loud frames (95th percentile of frame energy) to ``quiet_db``
    below them: quiet passages and decay tails keep the content's level."""
    content_energy = frame_energy_db(content)
    weight = torch.full_like(content_energy, loudness)
    if quiet_db > 0:
        below = (torch.quantile(content_energy, 0.95) - content_energy).clamp(min=0.0)
        weight = loudness + (1.0 - loudness) * (below / quiet_db).clamp(max=1.0)
    target = weight * content_energy + (1.0 - weight) * quantile_map(content_energy, frame_energy_db(style))
    return output + ((target - frame_energy_db(output)) / UNIT_DB_RANGE)[None, :]
