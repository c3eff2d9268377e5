"""Loudness family: does the output get louder and quieter where the content does, and are its quiet passages kept
quiet? ITU-R BS.1770 momentary loudness (K-weighting as ``pyloudnorm`` designs it, mean square over 400 ms blocks
every 100 ms, in LUFS) of content and output on the same (trimmed) timeline. Every block counts once, so silences,
lead-ins and decays weigh as much as loud notes: what ``envelope_corr`` misses."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.metrics.metrics import pearson
from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

# BS.1770 momentary loudness: 400 ms blocks; the hop of EBU Tech 3341's momentary meter (10 per second).
MOMENTARY_BLOCK_S = 0.4
MOMENTARY_HOP_S = 0.1
# A loudness contour is floored this far below its loudest block: below it differences are inaudible, and
# digital silence (-inf LUFS) would otherwise decide the correlation alone.
LOUDNESS_RANGE_LU = 60.0
# Content blocks this far below the content's loudest block are its quiet passages (lead-ins, pauses, decay tails).
QUIET_BELOW_LU = 20.0

# BS.1770's K-weighting as pyloudnorm designs it for any sample rate (RBJ cookbook biquads): a +4 dB high shelf at
# 1.5 kHz (Q 1/sqrt 2), then the RLB high-pass at 38 Hz (Q 0.5); (kind, gain dB, Q, corner Hz).
K_WEIGHTING = (("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0))
# The filters run as FFT convolutions with their impulse responses, cut where they have decayed below this fraction
# of their peak: equal to pyloudnorm's recursive filtering within float rounding (tested), without importing
# scipy.signal (0.7 s of CPU per evaluate job).
IMPULSE_RESPONSE_FLOOR = 1e-17


def biquad(kind: str, gain_db: float, q: float, corner_hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of a ``high_shelf`` or ``high_pass`` biquad normalised to ``a[0] = 1`` (pyloudnorm's
    ``IIRfilter.generate_coefficients``)."""
    amplitude = 10 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * (corner_hz / sample_rate)
    alpha = np.sin(w0) / (2.0 * q)
    cos, root = np.cos(w0), 2 * np.sqrt(amplitude) * alpha
    if kind == "high_shelf":
        b = amplitude * np.array([(amplitude + 1) + (amplitude - 1) * cos + root,
                                  -2 * ((amplitude - 1) + (amplitude + 1) * cos),
                                  (amplitude + 1) + (amplitude - 1) * cos - root])  # fmt: skip
        a = np.array([(amplitude + 1) - (amplitude - 1) * cos + root, 2 * ((amplitude - 1) - (amplitude + 1) * cos),
                      (amplitude + 1) - (amplitude - 1) * cos - root])  # fmt: skip
    else:
        b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
        a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return b / a[0], a / a[0]


def impulse_response(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Impulse response of a stable biquad (``a[0] = 1``), up to where 256 samples in a row lie below
    :data:`IMPULSE_RESPONSE_FLOOR` of its peak."""
    response, previous, before, peak, quiet = [], 0.0, 0.0, 0.0, 0
    while quiet < 256:
        value = (b[len(response)] if len(response) < 3 else 0.0) - a[1] * previous - a[2] * before
        response.append(value)
        before, previous, peak = previous, value, max(peak, abs(value))
        quiet = quiet + 1 if abs(value) < IMPULSE_RESPONSE_FLOOR * peak else 0
    return np.array(response)


def k_weighted(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """``signal`` (float64) through :data:`K_WEIGHTING`, as long as the input (a causal filter, zero initial state)."""
    response = np.ones(1)
    for stage in K_WEIGHTING:
        response = np.convolve(response, impulse_response(*biquad(*stage, sample_rate)))
    size = 1 << int(np.ceil(np.log2(len(signal) + len(response) - 1)))
    return np.fft.irfft(np.fft.rfft(signal, size) * np.fft.rfft(response, size), size)[: len(signal)]


def loudness_contour(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """BS.1770 momentary loudness (LUFS) of every 400 ms block, hop 100 ms, ``(blocks,)``.

    pyloudnorm's BS.1770-4 meter (K-weighting filters designed for ``sample_rate``, one channel of weight 1,
    ``-0.691 + 10 log10(mean square)`` per block, its block bounds) measures the blocks, its filters run by
    :func:`k_weighted`; its gating is not applied to the contour. A clip shorter than one block is padded with
    silence to one block. The contour is floored :data:`LOUDNESS_RANGE_LU` below its loudest block (an all-silent
    clip reads -200 LUFS throughout).
    """
    signal = np.asarray(audio, dtype=np.float64)
    block = int(np.ceil(MOMENTARY_BLOCK_S * sample_rate))
    weighted = k_weighted(np.pad(signal, (0, max(block - len(signal), 0))), sample_rate)
    step = MOMENTARY_HOP_S / MOMENTARY_BLOCK_S
    blocks = int(np.round((len(weighted) / sample_rate - MOMENTARY_BLOCK_S) / (MOMENTARY_BLOCK_S * step))) + 1
    bounds = [(int(MOMENTARY_BLOCK_S * (j * step) * sample_rate), int(MOMENTARY_BLOCK_S * (j * step + 1) * sample_rate))
              for j in range(blocks)]  # fmt: skip
    mean_square = np.array([1.0 / (MOMENTARY_BLOCK_S * sample_rate) * np.sum(np.square(weighted[lo:hi]))
                            for lo, hi in bounds])  # fmt: skip
    with np.errstate(divide="ignore"):
        loudness = np.maximum(-0.691 + 10.0 * np.log10(mean_square), -200.0)
    return np.maximum(loudness, loudness.max() - LOUDNESS_RANGE_LU)


def loudness_agreement(content: tuple[np.ndarray, int], output: tuple[np.ndarray, int]) -> dict[str, float]:
    """Compare the :func:`loudness_contour` of content and output (each ``(audio, sample_rate)``) over the blocks
    both have.

    Returns:
        ``loudness_corr``: Pearson correlation of the two contours (LUFS), every block weighted equally. Range
        -1..1, higher is better: 1 means the output gets louder and quieter exactly where the content does, decays
        and silences included; 0 when either contour is flat.
        ``quiet_lift_lu``: on the content's quiet blocks (more than :data:`QUIET_BELOW_LU` below its loudest),
        the mean of the output's loudness minus the content's, each relative to its own loudest block. LU; 0 is
        best: positive means the quiet passages were filled (louder than in the content), negative that they
        were made quieter still. NaN when the content has no quiet block.
    """
    a, b = loudness_contour(*content), loudness_contour(*output)
    blocks = min(len(a), len(b))
    a, b = a[:blocks] - a.max(), b[:blocks] - b.max()
    quiet = a < -QUIET_BELOW_LU
    return {
        "loudness_corr": pearson(a, b),
        "quiet_lift_lu": float(np.mean(b[quiet] - a[quiet])) if quiet.any() else math.nan,
    }


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    return loudness_agreement(analysis.content, analysis.clips["output"])


METRIC = Metric(
    name="loudness",
    summary="BS.1770 loudness contour kept, quiet passages kept quiet",
    columns=(
        Column("loudness_corr", "-1..1", "higher", "loudness contour corr", "key"),
        Column("quiet_lift_lu", "LU", "near 0", "quiet passages lifted", "key"),
    ),
    measure=measure,
)
