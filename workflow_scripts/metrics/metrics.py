"""Per-output measurements: one row of the metrics table (:mod:`workflow_scripts.metrics.metrics_table`).

Content preservation and style match are measured in one fixed feature space, independent of the backbone that was
optimised and of the vocoder's convention: the log-mel of :data:`~workflow_scripts.audio.conventions.EVALUATION`, in
decibels above its magnitude floor (``db`` arrays, ``(n_mels, frames)``). Each metric documents its range and which
direction is better; docs/metrics.md lists them all.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import soundfile as sf
import torch

from workflow_scripts.audio.audio_io import duration, load_audio, resample, to_mono
from workflow_scripts.audio.conventions import EVALUATION, UNIT_DB_RANGE, MelConvention, get_convention
from workflow_scripts.audio.pitch import f0_track
from workflow_scripts.metrics.dynamics import dynamics_columns
from workflow_scripts.metrics.metrics_table import KEY_COLUMNS
from workflow_scripts.metrics.perceptual import is_pitched, pitch_agreement, speech_columns

# Octave bands (Hz) of the temporal modulation of each log-mel band: syllable and note rates up to roughness.
MODULATION_BANDS_HZ = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
# Spectral convergence of an exact reconstruction would be -inf dB; report this floor instead.
SPECTRAL_CONVERGENCE_FLOOR_DB = -120.0
# Peak level reported for digital silence instead of -inf dBFS.
SILENCE_DBFS = -200.0


def decibels(features: np.ndarray, convention: MelConvention) -> np.ndarray:
    """Features of ``convention`` as dB above its magnitude floor (0 = silence, about 100 = a loud partial)."""
    return convention.to_unit(torch.from_numpy(np.asarray(features, dtype=np.float32))).numpy() * UNIT_DB_RANGE


def evaluation_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel (dB, ``(n_mels, frames)``) of mono ``audio`` in the fixed evaluation space."""
    audio = resample(np.asarray(audio, dtype=np.float32), sample_rate, EVALUATION.sample_rate)
    return decibels(EVALUATION.features(audio), EVALUATION)


def evaluation_frame_rate() -> float:
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


def spectral_convergence_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """``20 log10(||estimate - reference||_F / ||reference||_F)`` over the frames both have (dB).

    For linear-amplitude mels. Lower is better: 0 dB means an error as large as the reference itself (e.g. silence
    for a signal), -20 dB a 10 % error; an exact match gives :data:`SPECTRAL_CONVERGENCE_FLOOR_DB`.
    """
    frames = min(reference.shape[1], estimate.shape[1])
    reference, estimate = reference[:, :frames].astype(np.float64), estimate[:, :frames].astype(np.float64)
    ratio = np.linalg.norm(estimate - reference) / max(np.linalg.norm(reference), 1e-30)
    return float(max(20.0 * np.log10(max(ratio, 1e-30)), SPECTRAL_CONVERGENCE_FLOOR_DB))


def reconstruction_consistency(stylised: np.ndarray, audio: np.ndarray, convention: MelConvention) -> float:
    """Spectral convergence (dB) between the stylised features and those re-computed from the vocoded audio.

    Both as linear-amplitude mels in the vocoder's ``convention``. Lower is better: how faithfully the vocoder
    rendered the mel it was given.
    """
    reference = convention.to_mel(torch.from_numpy(stylised)).numpy()
    rebuilt = convention.to_mel(torch.from_numpy(convention.features(audio))).numpy()
    return spectral_convergence_db(reference, rebuilt)


def audio_checks(audio: np.ndarray) -> dict[str, float | int]:
    """``peak_dbfs`` (``SILENCE_DBFS`` for silence), ``clipped_samples`` (``|x| >= 1``) and ``nonfinite_samples``."""
    finite = np.isfinite(audio)
    peak = float(np.max(np.abs(audio[finite]))) if finite.any() else 0.0
    return {
        "peak_dbfs": round(20.0 * np.log10(peak), 3) if peak > 0 else SILENCE_DBFS,
        "clipped_samples": int(np.count_nonzero(np.abs(audio[finite]) >= 1.0)),
        "nonfinite_samples": int(np.count_nonzero(~finite)),
    }


def read_output_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A rendered output as mono float32, NaN and infinite samples kept (they are counted, not rejected)."""
    data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    return to_mono(np.ascontiguousarray(data.T)), int(sample_rate)


def output_row(
    keys: Mapping[str, str],
    *,
    output_wav: str | os.PathLike,
    content_wav: str | os.PathLike,
    style_wav: str | os.PathLike,
    stylised_mel: str | os.PathLike,
    content_f0: str | os.PathLike,
    kinds: Mapping[str, str],
    transfer_summary: Mapping[str, Any],
    vocode_summary: Mapping[str, Any],
) -> dict[str, Any]:
    """One metrics row for a rendered output; docs/metrics.md documents every column.

    ``content_wav`` and ``style_wav`` are the conditioned clips at the vocoder convention's rate (re-analysed in
    the evaluation space and in that convention); ``stylised_mel`` is the transfer result in the vocoder's
    convention; ``content_f0`` is
    the content's F0 per frame of the evaluation convention (rule pitch); ``kinds`` maps ``content`` and ``style``
    to ``speech`` or ``music`` (which metrics apply).
    """
    audio, rate = read_output_audio(output_wav)
    checks = audio_checks(audio)
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
    convention = get_convention(transfer_summary["convention"])
    stylised = np.load(stylised_mel)
    clips, spaces = {}, {}
    for name, source in (("content", content_wav), ("style", style_wav)):
        clip, clip_rate = load_audio(source)
        clips[name] = (to_mono(clip), clip_rate)
        spaces[name] = evaluation_db(*clips[name])
    output_db = evaluation_db(audio, rate)
    frame_rate = evaluation_frame_rate()
    # the clips are at the vocoder convention's rate (rule resample): their mels as the mel rule makes them
    mels = {name: decibels(convention.features(audio), convention) for name, (audio, _) in clips.items()}
    stylised_db = decibels(stylised, convention)
    content_pitch = np.load(content_f0)
    # CREPE on the output is most of this job's work; unpitched content (drums, noise) gets no pitch metrics anyway
    output_pitch = (
        f0_track(audio, rate, EVALUATION.frame_times(len(content_pitch)))[0]
        if is_pitched(content_pitch)
        else np.full_like(content_pitch, np.nan)
    )
    out_duration, content_duration = duration(output_wav), duration(content_wav)
    return {
        **{k: keys[k] for k in KEY_COLUMNS},
        "method": transfer_summary.get("method", "gatys"),
        "convention": convention.name,
        "content_kind": kinds["content"],
        "style_kind": kinds["style"],
        **content_preservation(spaces["content"], output_db),
        **dynamics_columns(
            {**clips, "output": (audio, rate)},
            {**spaces, "output": output_db},
            {**mels, "output": stylised_db},
            kinds,
        ),
        "style_match": style_match(spaces["content"], spaces["style"], output_db, frame_rate),
        "style_match_mel": style_match(
            mels["content"],
            mels["style"],
            stylised_db,
            convention.sample_rate / convention.hop_length,
        ),
        **pitch_agreement(content_pitch, output_pitch),
        **speech_columns(clips["content"], clips["style"], (audio, rate), kinds),
        "content_loss": transfer_summary["final"]["content"],
        "style_loss": transfer_summary["final"]["style"],
        "reconstruction_sc_db": reconstruction_consistency(stylised, audio, convention),
        "duration_s": round(out_duration, 6),
        "content_duration_s": round(content_duration, 6),
        "duration_error_s": round(out_duration - content_duration, 6),
        "duration_ratio": round(out_duration / content_duration, 6),
        **checks,
        "vocoder_peak_dbfs": round(20.0 * np.log10(max(vocode_summary["peak_before"], 1e-10)), 3),
        "nonfinite_mel": int(np.count_nonzero(~np.isfinite(stylised))),
        "steps": transfer_summary["final"]["step"],
        "transfer_s": round(transfer_summary["seconds"], 3),
        "vocode_s": round(vocode_summary["seconds"], 3),
        "transfer_job_s": transfer_summary["job_s"],
        "transfer_max_rss_mb": transfer_summary["max_rss_mb"],
        "vocode_job_s": vocode_summary["job_s"],
        "vocode_max_rss_mb": vocode_summary["max_rss_mb"],
    }


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
