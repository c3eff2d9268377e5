"""Leading/trailing silence trimming: webrtcvad for speech, an energy threshold for music, or none.

Only the ends are trimmed: pauses inside a clip are content timing and are kept.
"""

from __future__ import annotations

import librosa
import numpy as np
import webrtcvad

from workflow_scripts.audio.audio_io import resample, to_mono
from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.pipeline.options import TRIM_METHODS, TrimSettings

# webrtcvad accepts 16-bit mono PCM at these rates in 10, 20 or 30 ms frames.
_VAD_RATE = 16000
# A clip whose peak (mono, before and after trimming) is below this holds no usable signal: the level normalisation
# of rule resample would raise its noise floor to full scale, and it would be transferred as if it were signal.
MIN_PEAK_DBFS = -60.0
# The least a trimmed clip must last: style_match's texture statistics resolve temporal modulation from 2 Hz (one
# cycle in 0.5 s), and the pitch metrics need 20 voiced frames (0.23 s). Shorter clips give numbers that mean nothing.
MIN_SECONDS = 0.5


def voiced_span(mono: np.ndarray, sample_rate: int, settings: TrimSettings) -> tuple[int, int] | None:
    """``(start, end)`` sample indices of the padded voiced span of ``mono``, or ``None`` if nothing is voiced."""
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
    """Cut ``(channels, samples)`` audio to its voiced span.

    Raises :class:`InputError` naming ``source`` (the user's file) when the clip is too quiet to hold signal
    (:data:`MIN_PEAK_DBFS`), when no voiced span is found, or when the span is shorter than :data:`MIN_SECONDS`.
    """
    mono = to_mono(audio)
    _check_level(mono, source)
    span = voiced_span(mono, sample_rate, settings)
    if span is None:  # only webrtcvad finds nothing in a clip this loud: energy keeps its loudest frames
        alternatives = " or ".join(f"'{m}'" for m in TRIM_METHODS if m != settings.method)
        raise InputError(
            f"{source}: trimming with '{settings.method}' found no voiced audio (not speech); "
            f"set this clip's vad to {alternatives}, or remove it"
        )
    _check_level(mono[span[0] : span[1]], source)
    seconds = (span[1] - span[0]) / sample_rate
    if seconds < MIN_SECONDS:
        # vad none helps only if trimming is what made the clip short
        untrimmed_fits = settings.method != "none" and len(mono) / sample_rate >= MIN_SECONDS
        longer = " or set this clip's vad to 'none'" if untrimmed_fits else ""
        raise InputError(
            f"{source}: {seconds:.2f} s after trimming is shorter than the {MIN_SECONDS} s the analysis needs "
            f"(style statistics resolve modulation from 2 Hz); use a longer clip{longer}, or remove it"
        )
    return audio[..., span[0] : span[1]]


def _check_level(mono: np.ndarray, source: str) -> None:
    peak = float(np.max(np.abs(mono)))
    if peak < 10.0 ** (MIN_PEAK_DBFS / 20.0):
        level = "is digital silence" if peak == 0.0 else f"peaks at {20.0 * np.log10(peak):.0f} dBFS"
        raise InputError(
            f"{source}: {level}, below the {MIN_PEAK_DBFS:.0f} dBFS floor: too quiet to hold signal (normalising "
            f"it would only amplify noise); use a louder recording or remove it"
        )


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
