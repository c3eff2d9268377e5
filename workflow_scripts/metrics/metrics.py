"""The measuring tools the metric families (:mod:`workflow_scripts.metrics.families`) and the benchmarks share.

Content preservation, style match and smoothness are measured in one fixed feature space, independent of the
backbone that was optimised and of the vocoder's convention: the log-mel of
:data:`~workflow_scripts.audio.conventions.EVALUATION`, in decibels above its magnitude floor (``db`` arrays,
``(n_mels, frames)``). torch and the conventions are imported where they are used: the families import this module
and the report imports the families.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from workflow_scripts.audio.conventions import MelConvention

# Spectral convergence of an exact reconstruction would be -inf dB; report this floor instead.
SPECTRAL_CONVERGENCE_FLOOR_DB = -120.0


def decibels(features: np.ndarray, convention: MelConvention) -> np.ndarray:
    """Features of ``convention`` as dB above its magnitude floor (0 = silence, about 100 = a loud partial)."""
    from workflow_scripts.audio.conventions import UNIT_DB_RANGE

    return convention.to_unit_array(features) * UNIT_DB_RANGE


def evaluation_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel (dB, ``(n_mels, frames)``) of mono ``audio`` in the fixed evaluation space."""
    from workflow_scripts.audio.audio_io import resample
    from workflow_scripts.audio.conventions import EVALUATION

    audio = resample(np.asarray(audio, dtype=np.float32), sample_rate, EVALUATION.sample_rate)
    return decibels(EVALUATION.features(audio), EVALUATION)


def evaluation_frame_rate() -> float:
    from workflow_scripts.audio.conventions import EVALUATION

    return EVALUATION.sample_rate / EVALUATION.hop_length


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the frames both have; 0 when either is constant (no shared structure).

    Range [-1, 1]; 1 means the same shape up to offset and scale.
    """
    frames = min(len(a), len(b))
    a, b = np.asarray(a[:frames], dtype=np.float64), np.asarray(b[:frames], dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 1e-12 else 0.0


def spectral_convergence_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """``20 log10(||estimate - reference||_F / ||reference||_F)`` over the frames both have (dB).

    For linear-amplitude mels. Lower is better: 0 dB means an error as large as the reference itself (e.g. silence
    for a signal), -20 dB a 10 % error; an exact match gives :data:`SPECTRAL_CONVERGENCE_FLOOR_DB`.
    """
    frames = min(reference.shape[1], estimate.shape[1])
    reference, estimate = reference[:, :frames].astype(np.float64), estimate[:, :frames].astype(np.float64)
    ratio = np.linalg.norm(estimate - reference) / max(np.linalg.norm(reference), 1e-30)
    return float(max(20.0 * np.log10(max(ratio, 1e-30)), SPECTRAL_CONVERGENCE_FLOOR_DB))


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def log_mel_error_db(
    audio: np.ndarray, reference: np.ndarray, convention: MelConvention, range_db: float = 80.0
) -> float:
    """Round-trip error of a vocoder: mean absolute mel difference (dB) between ``audio`` and ``reference``.

    Parameters
    ----------
    audio : np.ndarray
        Rendered mono audio at ``convention``'s sample rate.
    reference : np.ndarray
        Features ``(n_mels, frames)`` in ``convention`` (what the audio was rendered from, or the source's mel).
    convention : MelConvention
        Convention both mels are measured in.
    range_db : float
        Both mels are floored this far below the reference's peak, so inaudible bins do not dominate.

    Returns
    -------
    float
        The error in dB over the frames both mels have.
    """
    mels = [convention.features(audio), reference]
    frames = min(m.shape[1] for m in mels)
    rendered, target = (decibels(m[:, :frames], convention) for m in mels)
    floor = target.max() - range_db
    return float(np.abs(np.maximum(rendered, floor) - np.maximum(target, floor)).mean())
