"""librosa's Slaney mel filterbank and periodic Hann window, computed here with numpy alone.

Every job that analyses audio needs a mel filterbank; importing it from librosa loads ``librosa.core``, whose numba
kernels and scipy imports cost about 0.9 s of CPU per job (docs/performance.md, Evaluation metrics). The arithmetic
below is librosa's (``filters.mel``, ``core.convert``) and scipy's (``signal.get_window('hann', fftbins=True)``)
step for step, so the results are bit-identical to theirs (tested).
"""

from __future__ import annotations

import numpy as np

# The Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above it (a factor 6.4 per 27 mels).
_HZ_PER_MEL = 200.0 / 3
_LOG_REGION_HZ = 1000.0
_LOG_REGION_MEL = _LOG_REGION_HZ / _HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(frequency: float) -> float:
    """One frequency (Hz) on the Slaney mel scale."""
    if frequency >= _LOG_REGION_HZ:
        return _LOG_REGION_MEL + np.log(frequency / _LOG_REGION_HZ) / _LOG_STEP
    return frequency / _HZ_PER_MEL


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Frequencies (Hz) of an array of Slaney mels."""
    frequencies = _HZ_PER_MEL * mels
    log_region = mels >= _LOG_REGION_MEL
    frequencies[log_region] = _LOG_REGION_HZ * np.exp(_LOG_STEP * (mels[log_region] - _LOG_REGION_MEL))
    return frequencies


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` float32 triangular filters, Slaney scale and area normalisation: what
    ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)`` returns."""
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    bin_frequencies = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bin_frequencies)
    for band in range(n_mels):
        rising = -ramps[band] / widths[band]
        falling = ramps[band + 2] / widths[band + 1]
        weights[band] = np.maximum(0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2 : n_mels + 2] - edges[:n_mels]))[:, np.newaxis]
    return weights


def hann_window(length: int) -> np.ndarray:
    """Periodic (DFT-even) Hann window of ``length`` samples, float64, as ``scipy.signal.get_window('hann',
    length)`` computes it."""
    phase = np.linspace(-np.pi, np.pi, length + 1, dtype=np.float64)
    window = np.zeros(length + 1, dtype=np.float64)
    for coefficient, harmonic in ((0.5, 0), (0.5, 1)):
        window += coefficient * np.cos(harmonic * phase)
    return window[:-1]
