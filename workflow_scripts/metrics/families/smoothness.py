"""Smoothness family: the median frame-to-frame change of the log-mel, for the output, the content and the style.
Fast switching between unrelated frames (stutter) raises every frame's change; a few onsets do not move the
median."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

# Log-mel floor of the smoothness measure, below each clip's loudest bin: the frame-to-frame jitter of noise far
# below the music is not heard as stutter.
CHANGE_RANGE_DB = 60.0


def frame_change_db(db: np.ndarray) -> float:
    """Median frame-to-frame change of a log-mel (dB, ``(n_mels, frames)``): the mean absolute difference over
    bands between consecutive frames, both floored :data:`CHANGE_RANGE_DB` below the clip's loudest bin, its median
    over the pairs of frames of which at least one is above the floor in some band.

    Range 0..inf dB, lower is smoother. The median ignores onsets (a few frames) and sees stutter (every frame).
    0 for a clip of fewer than two audible frames.
    """
    floored = np.maximum(db, db.max() - CHANGE_RANGE_DB)
    change = np.abs(np.diff(floored, axis=1)).mean(axis=0)
    above = (floored > db.max() - CHANGE_RANGE_DB).any(axis=0)
    audible = above[1:] | above[:-1]
    return float(np.median(change[audible])) if audible.any() else 0.0


def smoothness(content_db: np.ndarray, style_db: np.ndarray, output_db: np.ndarray) -> dict[str, float]:
    """:func:`frame_change_db` of output, content and style (log-mels in dB in one space), and
    ``frame_change_ratio``: the output's over the smoother (lower) of content and style.

    The ratio is 0..inf, lower is better: 1 means the output changes from frame to frame as little as the smoother
    of its two sources; well above 1 is stutter (switching between unrelated frames). The target is at most 1.5.
    NaN when both sources are static (zero change).
    """
    change = {name: frame_change_db(db) for name, db in (("", output_db), ("content_", content_db),
                                                           ("style_", style_db))}  # fmt: skip
    smoother = min(change["content_"], change["style_"])
    return {
        **{f"{prefix}frame_change_db": value for prefix, value in change.items()},
        "frame_change_ratio": change[""] / smoother if smoother > 0 else math.nan,
    }


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    """:func:`smoothness` in the evaluation space, and ``frame_change_ratio_mel``: its ratio on the stylised mel
    before vocoding (content's and style's mels in the vocoder's convention), so that a vocoder's own frame-to-frame
    jitter can be told from the transfer's."""
    spaces, mels = analysis.spaces, analysis.mels
    return smoothness(spaces["content"], spaces["style"], spaces["output"]) | {
        "frame_change_ratio_mel": smoothness(mels["content"], mels["style"], mels["output"])["frame_change_ratio"]
    }


METRIC = Metric(
    name="smoothness",
    summary="no stutter (frame-to-frame change against the smoother source)",
    columns=(
        Column("frame_change_db", "dB", "lower"),
        Column("content_frame_change_db", "dB"),
        Column("style_frame_change_db", "dB"),
        Column("frame_change_ratio", "≤1.5 smooth", "lower", "frame change ratio", "key"),
        Column("frame_change_ratio_mel", "0..inf", "lower"),
    ),
    measure=measure,
)
