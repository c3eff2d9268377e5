"""Audio reading, writing and conditioning (mono mix-down, resampling, level normalisation).

Audio arrays are float32. Multichannel audio is ``(channels, samples)``; mono audio is ``(samples,)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from workflow_scripts.pipeline.artifacts import atomic_path
from workflow_scripts.pipeline.errors import InputError

# Peaks below this are treated as digital silence (about -90 dBFS).
SILENCE_PEAK = 3e-5


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read ``path`` as float32 ``(channels, samples)`` and its sample rate.

    Raises :class:`InputError` naming the file when it cannot be decoded, holds no samples or non-finite values.
    """
    try:
        data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        if not Path(path).exists():
            raise InputError(f"{path}: file not found; fix the path in the clip list") from None
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"{path}: not a readable audio file ({detail}); convert it to WAV, FLAC or OGG or remove it"
        ) from None
    if data.shape[0] == 0:
        raise InputError(f"{path}: contains no samples; remove it from the corpus")
    if not np.isfinite(data).all():
        raise InputError(f"{path}: contains NaN or infinite samples; re-export it from its source")
    return np.ascontiguousarray(data.T), int(sample_rate)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of ``(channels, samples)`` audio; mono input is returned unchanged."""
    return audio if audio.ndim == 1 else audio.mean(axis=0)


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) along the last axis."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type="soxr_hq").astype(np.float32)


def normalise(audio: np.ndarray, mode: str, target_db: float, source: str = "audio") -> np.ndarray:
    """Scale ``audio`` so its peak (``mode='peak'``) or RMS (``'rms'``) level is ``target_db`` dBFS.

    ``'rms'`` never lets the peak exceed 0 dBFS. ``'none'`` returns the input.
    """
    if mode == "none":
        return audio
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        raise InputError(f"{source}: is silent (peak below -90 dBFS); remove it or set normalise.mode: none")
    target = 10.0 ** (target_db / 20.0)
    if mode == "peak":
        gain = target / peak
    elif mode == "rms":
        gain = min(target / float(np.sqrt(np.mean(audio**2))), 1.0 / peak)
    else:
        raise ValueError(f"unknown normalisation mode {mode!r}; use peak, rms or none")
    return (audio * gain).astype(np.float32)


def save_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write a WAV atomically; ``audio`` is ``(samples,)`` or ``(channels, samples)``.

    ``subtype`` is libsndfile's sample format: ``FLOAT`` (the default, no quantisation: intermediate files),
    ``PCM_16`` or ``PCM_24`` (rendered outputs, options.OUTPUT_FORMATS).
    """
    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32).T, sample_rate, subtype=subtype, format="WAV")


def save_array(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a ``.npy`` array atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def duration(path: str | os.PathLike) -> float:
    """Duration in seconds of an audio file, from its header."""
    info = sf.info(path)
    return info.frames / info.samplerate
