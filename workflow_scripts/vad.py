"""Leading/trailing silence trimming: webrtcvad for speech, an energy threshold for music, or none.

Only the ends are trimmed: pauses inside a clip are content timing and are kept.
"""

from __future__ import annotations

import librosa
import numpy as np
import webrtcvad

from workflow_scripts.audio_io import SILENCE_PEAK, resample, to_mono
from workflow_scripts.errors import InputError
from workflow_scripts.options import TRIM_METHODS, TrimSettings

# webrtcvad accepts 16-bit mono PCM at these rates in 10, 20 or 30 ms frames.
_VAD_RATE = 16000


def voiced_span(mono: np.ndarray, sample_rate: int, settings: TrimSettings) -> tuple[int, int] | None:
    """``(start, end)`` sample indices of the padded voiced span of ``mono``, or ``None`` if nothing is voiced."""
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        return None
    if settings.method == "none":
        return 0, len(mono)
    if settings.method == "webrtcvad":
        span = _webrtcvad_span(mono, sample_rate, settings)
    elif settings.method == "energy":
        span = _energy_span(mono, sample_rate, settings)
    else:
        raise ValueError(f"unknown trim method {settings.method!r}; use one of {', '.join(TRIM_METHODS)}")
    if span is None:
        return None
    pad = round(settings.padding_ms * sample_rate / 1000.0)
    return max(span[0] - pad, 0), min(span[1] + pad, len(mono))


def trim(audio: np.ndarray, sample_rate: int, settings: TrimSettings, source: str) -> np.ndarray:
    """Cut ``(channels, samples)`` audio to its voiced span; raise :class:`InputError` if none is found."""
    span = voiced_span(to_mono(audio), sample_rate, settings)
    if span is None:
        alternatives = " or ".join(f"'{m}'" for m in TRIM_METHODS if m != settings.method)
        raise InputError(
            f"{source}: trimming with '{settings.method}' found no voiced audio (silent or not speech); "
            f"set this clip's vad to {alternatives}, or remove it"
        )
    return audio[..., span[0] : span[1]]


def _webrtcvad_span(mono: np.ndarray, sample_rate: int, settings: TrimSettings) -> tuple[int, int] | None:
    pcm = np.clip(resample(mono, sample_rate, _VAD_RATE), -1.0, 1.0)
    pcm16 = (pcm * 32767.0).astype("<i2")
    frame = _VAD_RATE * settings.frame_ms // 1000
    detector = webrtcvad.Vad(settings.aggressiveness)
    voiced = [
        i
        for i in range(len(pcm16) // frame)
        if detector.is_speech(pcm16[i * frame : (i + 1) * frame].tobytes(), _VAD_RATE)
    ]
    if not voiced:
        return None
    scale = sample_rate / _VAD_RATE
    return int(voiced[0] * frame * scale), min(int((voiced[-1] + 1) * frame * scale), len(mono))


def _energy_span(mono: np.ndarray, sample_rate: int, settings: TrimSettings) -> tuple[int, int] | None:
    # ~32 ms frames with an 8 ms hop at any sample rate
    frame = 1 << max(int(np.ceil(np.log2(0.032 * sample_rate))) - 1, 4)
    _, (start, end) = librosa.effects.trim(mono, top_db=settings.top_db, frame_length=frame, hop_length=frame // 4)
    return (int(start), int(end)) if end > start else None
