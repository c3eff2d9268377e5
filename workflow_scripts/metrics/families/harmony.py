"""Harmony family (music content): chroma from a constant-Q transform (``librosa.feature.chroma_cqt``), compared
frame by frame on the content's audible frames. A monophonic F0 tracker says nothing reliable about chords; chroma
does."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.audio.audio_io import resample
from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

# Chroma (and the frames it is compared on) at this rate and hop: 23 ms frames.
CHROMA_RATE = 22050
CHROMA_HOP = 512
# Content frames this far below the content's loudest frame carry no harmony worth comparing.
AUDIBLE_RANGE_DB = 40.0
# Frame level (dBFS) of digital silence and rounding noise: never audible.
DIGITAL_SILENCE_DB = -120.0


def chroma(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Chroma ``(12, frames)`` of the constant-Q transform at :data:`CHROMA_RATE`, hop :data:`CHROMA_HOP`, tuned
    to A440 (no per-clip tuning estimate, so content and output are read on the same pitch grid)."""
    import librosa

    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, CHROMA_RATE)
    return librosa.feature.chroma_cqt(y=signal, sr=CHROMA_RATE, hop_length=CHROMA_HOP, tuning=0.0)


def frame_level_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level (dB) of the frames of :func:`chroma`, ``(frames,)``."""
    import librosa

    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, CHROMA_RATE)
    rms = librosa.feature.rms(y=signal, frame_length=2 * CHROMA_HOP, hop_length=CHROMA_HOP)[0]
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def chroma_corr(content: tuple[np.ndarray, int], output: tuple[np.ndarray, int]) -> float:
    """Mean, over the content's audible frames (within :data:`AUDIBLE_RANGE_DB` of its loudest, above digital
    silence), of the Pearson
    correlation of the 12 chroma values of content and output (each ``(audio, sample_rate)``) in the same frame.

    Range -1..1, higher is better: 1 means every frame holds the same pitch classes in the same proportions (an
    octave transposition keeps it; a transposition by other intervals does not); about 0 for noise or unrelated
    harmony; a frame whose chroma is flat in either clip counts 0. NaN when the content has no audible frame.
    """
    a, b = chroma(*content), chroma(*output)
    level = frame_level_db(*content)
    frames = min(a.shape[1], b.shape[1], len(level))
    audible = (level[:frames] >= level[:frames].max() - AUDIBLE_RANGE_DB) & (level[:frames] > DIGITAL_SILENCE_DB)
    if not audible.any():
        return math.nan
    a, b = a[:, :frames][:, audible], b[:, :frames][:, audible]
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    norms = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    per_frame = np.where(norms > 1e-12, (a * b).sum(axis=0) / np.maximum(norms, 1e-12), 0.0)
    return float(per_frame.mean())


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    return {"chroma_corr": chroma_corr(analysis.content, analysis.clips["output"])}


METRIC = Metric(
    name="harmony",
    summary="pitch classes kept (CQT chroma)",
    columns=(Column("chroma_corr", "-1..1", "higher", "chroma corr", "key"),),
    measure=measure,
    content_kinds=("music",),
)
