"""Texture family: how far the output's time-invariant texture moved from the content's towards the style's, in the
evaluation space and, before vocoding, in the vocoder's convention."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

# Octave bands (Hz) of the temporal modulation of each log-mel band: syllable and note rates up to roughness.
MODULATION_BANDS_HZ = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def texture_statistics(db: np.ndarray, frame_rate: float) -> dict[str, np.ndarray]:
    """Time-invariant texture summary of a log-mel (all in dB), independent of duration and overall level.

    ``spectral_shape``: per-band mean minus the overall mean (``(n_mels,)``); ``band_std``: per-band standard
    deviation over time (``(n_mels,)``); ``modulation``: per band, the standard deviation contributed by temporal
    modulation in each octave of :data:`MODULATION_BANDS_HZ` (``(n_mels, 6)``, by Parseval's theorem).
    """
    band_mean = db.mean(axis=1)
    centred = db - band_mean[:, None]
    frames = db.shape[1]
    power = np.abs(np.fft.rfft(centred, axis=1)) ** 2 / frames**2
    power[:, 1 : (frames + 1) // 2] *= 2.0  # one-sided spectrum: count negative frequencies too
    frequencies = np.fft.rfftfreq(frames, d=1.0 / frame_rate)
    octaves = itertools.pairwise(MODULATION_BANDS_HZ)
    modulation = np.stack(
        [np.sqrt(power[:, (frequencies >= lo) & (frequencies < hi)].sum(axis=1)) for lo, hi in octaves], axis=1
    )
    return {"spectral_shape": band_mean - band_mean.mean(), "band_std": centred.std(axis=1), "modulation": modulation}


def texture_distance(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    """Root-mean-square difference (dB) of two :func:`texture_statistics`, each statistic weighted equally.

    Range [0, inf); 0 means the same texture.
    """
    return float(np.sqrt(np.mean([np.mean((a[name] - b[name]) ** 2) for name in a])))


def style_match(content_db: np.ndarray, style_db: np.ndarray, output_db: np.ndarray, frame_rate: float) -> float:
    """``1 - d(output, style) / d(content, style)`` with :func:`texture_distance` ``d``.

    0: the output's texture is as far from the style as the content's was (unchanged); 1: it matches the style.
    Range (-inf, 1]; higher is better; negative means the output moved away from the style. NaN when the content
    already has the style's texture (nothing to match).
    """
    style = texture_statistics(style_db, frame_rate)
    baseline = texture_distance(texture_statistics(content_db, frame_rate), style)
    if baseline < 1e-9:
        return float("nan")
    return 1.0 - texture_distance(texture_statistics(output_db, frame_rate), style) / baseline


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    from workflow_scripts.metrics.metrics import evaluation_frame_rate

    spaces, mels, convention = analysis.spaces, analysis.mels, analysis.convention
    return {
        "style_match": style_match(spaces["content"], spaces["style"], spaces["output"], evaluation_frame_rate()),
        "style_match_mel": style_match(
            mels["content"], mels["style"], mels["output"], convention.sample_rate / convention.hop_length
        ),
    }


METRIC = Metric(
    name="texture",
    summary="style match of the texture statistics",
    columns=(
        Column("style_match", "≤1; 0 unchanged", "higher", "style match", "key", headline=True),
        Column("style_match_mel", "≤1", "higher", "style match of the mel", "checks"),
    ),
    measure=measure,
)
