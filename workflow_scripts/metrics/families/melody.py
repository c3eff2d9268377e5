"""Melody family: is the content's pitch kept? F0 tracks from CREPE (:mod:`workflow_scripts.audio.pitch`): the
content's from rule pitch, the output's here at the same frame times; the log-F0 Pearson correlation between them
on frames voiced in both, and the voicing agreement (1 minus the voicing decision error) over all frames."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

# Below this many frames voiced in both clips a correlation says nothing; the metric is left empty.
MIN_VOICED_FRAMES = 20
# Content with fewer voiced frames than this fraction is not pitched (drums, noise): no pitch metrics.
MIN_VOICED_FRACTION = 0.2


def is_pitched(f0: np.ndarray) -> bool:
    """Whether an F0 track (NaN where unvoiced) is voiced on at least :data:`MIN_VOICED_FRACTION` of its frames."""
    return bool(len(f0)) and float(np.mean(np.isfinite(f0))) >= MIN_VOICED_FRACTION


def pitch_agreement(content_f0: np.ndarray, output_f0: np.ndarray) -> dict[str, float]:
    """Compare two F0 tracks (Hz, NaN where unvoiced) over the frames both have.

    Returns:
        ``content_voiced``: fraction of the content's frames that are voiced (0..1).
        ``f0_corr``: Pearson correlation of log-F0 on frames voiced in both (-1..1, higher is better; 1 keeps the
        melody up to a transposition). NaN when the content is not pitched (voiced fraction below
        :data:`MIN_VOICED_FRACTION`) or fewer than :data:`MIN_VOICED_FRAMES` frames are voiced in both.
        ``voicing_agreement``: fraction of frames whose voiced/unvoiced decisions agree (0..1, higher is better;
        1 minus the voicing decision error). NaN when the content is not pitched.
    """
    frames = min(len(content_f0), len(output_f0))
    content_f0, output_f0 = content_f0[:frames], output_f0[:frames]
    content_voiced, output_voiced = np.isfinite(content_f0), np.isfinite(output_f0)
    voiced_fraction = float(np.mean(content_voiced)) if frames else 0.0
    result = {"content_voiced": voiced_fraction, "f0_corr": math.nan, "voicing_agreement": math.nan}
    if not is_pitched(content_f0):
        return result
    result["voicing_agreement"] = float(np.mean(content_voiced == output_voiced))
    both = content_voiced & output_voiced
    if np.count_nonzero(both) >= MIN_VOICED_FRAMES:
        a, b = np.log(content_f0[both]), np.log(output_f0[both])
        if a.std() > 0 and b.std() > 0:
            result["f0_corr"] = float(np.corrcoef(a, b)[0, 1])
    return result


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    from workflow_scripts.audio.conventions import EVALUATION
    from workflow_scripts.audio.pitch import f0_track

    content_pitch = analysis.content_f0
    # CREPE on the output is most of this family's work; unpitched content (drums, noise) gets no pitch metrics anyway
    output_pitch = (
        f0_track(analysis.audio, analysis.output[1], EVALUATION.frame_times(len(content_pitch)))[0]
        if is_pitched(content_pitch)
        else np.full_like(content_pitch, np.nan)
    )
    return pitch_agreement(content_pitch, output_pitch)


METRIC = Metric(
    name="melody",
    summary="pitch kept (CREPE F0)",
    columns=(
        Column("content_voiced", "0..1"),
        Column("f0_corr", "-1..1", "higher", "F0 corr", "key", headline=True),
        Column("voicing_agreement", "0..1", "higher", "voicing agree", "key"),
    ),
    measure=measure,
)
