"""Timing family: does the output rise, fall and start notes where the content does? Envelopes of the content and
the output in the fixed evaluation space (log-mel dB, ``(n_mels, frames)``), independent of the backbone and the
vocoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.metrics.metrics import pearson
from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis


def energy_envelope(db: np.ndarray) -> np.ndarray:
    """Frame energy in dB: ``10 log10`` of the mean mel power per frame (``(frames,)``)."""
    return 10.0 * np.log10(np.mean(10.0 ** (db / 10.0), axis=0))


def spectral_flux(db: np.ndarray) -> np.ndarray:
    """Mean positive log-mel change from the previous frame (dB per frame, ``(frames,)``; the first frame is 0).

    Peaks at onsets: notes, syllables, bursts.
    """
    rise = np.maximum(np.diff(db, axis=1), 0.0).mean(axis=0)
    return np.concatenate([[0.0], rise])


def content_preservation(content_db: np.ndarray, output_db: np.ndarray) -> dict[str, float]:
    """How well the output keeps the content's timing, from backbone-independent envelopes.

    Returns ``envelope_corr`` (Pearson correlation of :func:`energy_envelope`), ``flux_corr`` (of
    :func:`spectral_flux`) and ``content_preservation``, their mean. Each is in [-1, 1]; higher is better: 1 means
    the output rises and falls, and has its onsets, exactly where the content does.
    """
    envelope = pearson(energy_envelope(content_db), energy_envelope(output_db))
    flux = pearson(spectral_flux(content_db), spectral_flux(output_db))
    return {"envelope_corr": envelope, "flux_corr": flux, "content_preservation": (envelope + flux) / 2.0}


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    return content_preservation(analysis.spaces["content"], analysis.spaces["output"])


METRIC = Metric(
    name="timing",
    summary="content timing kept (energy and onset envelopes)",
    columns=(
        Column("envelope_corr", "-1..1", "higher"),
        Column("flux_corr", "-1..1", "higher"),
        Column("content_preservation", "-1..1", "higher", "content kept", "key", headline=True),
    ),
    measure=measure,
)
