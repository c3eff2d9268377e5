"""Built-in demo signals, synthesised from code so the demo needs no third-party recordings.

``plucked_melody`` is a Karplus-Strong string playing a short tune (clear onsets: content); ``bowed_tone`` is a
sustained, bright, bowed/brass-like tone with vibrato and breath noise (a steady timbre: style). Both carry some
silence at the ends for the trimming stage to remove.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SAMPLE_RATE = 44100
_EDGE_SILENCE = 0.3  # seconds of silence before and after each signal


def plucked_melody(sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Karplus-Strong plucked string playing eight notes (about 3.6 s with silence)."""
    rng = np.random.default_rng(seed)
    notes = [220.0, 277.18, 329.63, 440.0, 392.0, 329.63, 293.66, 246.94]
    note_seconds = 0.375
    out = []
    for frequency in notes:
        length = int(note_seconds * sample_rate)
        period = round(sample_rate / frequency)
        buffer = rng.uniform(-1.0, 1.0, period)
        samples = np.empty(length)
        for i in range(length):  # the recurrence is inherently sequential
            samples[i] = buffer[i % period]
            buffer[i % period] = 0.996 * 0.5 * (buffer[i % period] + buffer[(i + 1) % period])
        out.append(samples)
    return _with_silence(np.concatenate(out), sample_rate)


def bowed_tone(sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Sustained sawtooth-like tone with a formant, 5.5 Hz vibrato and breath noise (about 3.6 s)."""
    rng = np.random.default_rng(seed)
    seconds = 3.0
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = 196.0 * np.where(t < seconds / 2, 1.0, 2 ** (3 / 12))  # G3 then B-flat 3
    pitch = pitch * (1.0 + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    tone = np.zeros_like(t)
    for k in range(1, 40):
        harmonic = k * pitch
        formant = 1.0 / (1.0 + ((harmonic - 1200.0) / 900.0) ** 2)  # brassy resonance around 1.2 kHz
        tone += np.where(harmonic < sample_rate / 2, (1.0 / k + 2.0 * formant / k) * np.sin(k * phase), 0.0)
    envelope = np.minimum(1.0, t / 0.12) * np.minimum(1.0, (seconds - t) / 0.2)
    breath = np.convolve(rng.standard_normal(len(t)), np.ones(8) / 8, mode="same") * 0.02
    signal = (tone / np.max(np.abs(tone)) + breath) * envelope
    return _with_silence(signal, sample_rate)


def _with_silence(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    pad = np.zeros(int(_EDGE_SILENCE * sample_rate))
    signal = 0.8 * signal / np.max(np.abs(signal))
    return np.concatenate([pad, signal, pad]).astype(np.float32)


SYNTHS: dict[str, Callable[..., np.ndarray]] = {"plucked_melody": plucked_melody, "bowed_tone": bowed_tone}
