"""Checks family: did the vocoder render what it was given, at the content's duration, without clipping or
non-finite values?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.metrics.metrics import spectral_convergence_db
from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.audio.conventions import MelConvention
    from workflow_scripts.metrics.analysis import OutputAnalysis

# Peak level reported for digital silence instead of -inf dBFS.
SILENCE_DBFS = -200.0


def reconstruction_consistency(stylised: np.ndarray, rendered: np.ndarray, convention: MelConvention) -> float:
    """Spectral convergence (dB) between the stylised features and ``rendered``, the features re-computed from the
    vocoded audio, both in the vocoder's ``convention`` and compared as linear-amplitude mels. Lower is better: how
    faithfully the vocoder rendered the mel it was given."""
    import torch

    mels = [convention.to_mel(torch.from_numpy(features)).numpy() for features in (stylised, rendered)]
    return spectral_convergence_db(*mels)


def audio_checks(audio: np.ndarray) -> dict[str, float | int]:
    """``peak_dbfs`` (``SILENCE_DBFS`` for silence), ``clipped_samples`` (``|x| >= 1``) and ``nonfinite_samples``."""
    finite = np.isfinite(audio)
    peak = float(np.max(np.abs(audio[finite]))) if finite.any() else 0.0
    return {
        "peak_dbfs": round(20.0 * np.log10(peak), 3) if peak > 0 else SILENCE_DBFS,
        "clipped_samples": int(np.count_nonzero(np.abs(audio[finite]) >= 1.0)),
        "nonfinite_samples": int(np.count_nonzero(~finite)),
    }


def measure(analysis: OutputAnalysis) -> dict[str, float | int]:
    """The rendered audio re-analysed is :attr:`OutputAnalysis.rendered_features`, shared with the step's panels."""
    stylised = analysis.stylised
    (output, rate), (content, content_rate) = analysis.output, analysis.content
    out_duration, content_duration = len(output) / rate, content.shape[-1] / content_rate
    return {
        "reconstruction_sc_db": reconstruction_consistency(stylised, analysis.rendered_features, analysis.convention),
        "duration_s": round(out_duration, 6),
        "content_duration_s": round(content_duration, 6),
        "duration_error_s": round(out_duration - content_duration, 6),
        "duration_ratio": round(out_duration / content_duration, 6),
        **audio_checks(output),
        "vocoder_peak_dbfs": round(20.0 * np.log10(max(analysis.vocode_summary["peak_before"], 1e-10)), 3),
        "nonfinite_mel": int(np.count_nonzero(~np.isfinite(stylised))),
    }


METRIC = Metric(
    name="checks",
    summary="rendering fidelity, durations and levels",
    columns=(
        Column("reconstruction_sc_db", "dB", "lower", "vocoder error", "checks"),
        Column("duration_s", "s"),
        Column("content_duration_s", "s"),
        Column("duration_error_s", "s", "near 0"),
        Column("duration_ratio", "", "near 1", "duration ratio", "checks"),
        Column("peak_dbfs", "dBFS", "", "peak", "checks"),
        Column("clipped_samples", "", "near 0", "clipped samples", "checks"),
        Column("nonfinite_samples", "", "near 0", "non-finite samples", "checks"),
        Column("vocoder_peak_dbfs", "dBFS"),
        Column("nonfinite_mel", "", "near 0"),
    ),
    measure=measure,
)
