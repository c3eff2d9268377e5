"""Naturalness family (speech content): DNSMOS P.835 (SIG, BAK, OVRL) of the output and of the content, from the
ONNX model that the ``speechmos`` wheel ships, run with ``onnxruntime`` (its CPU provider: the ``onnxruntime`` wheel
has no CUDA provider). The model file is run here, as speechmos runs it, without importing speechmos: its ``run``
also loads and evaluates the P.808 model, whose score no column uses, and imports ``requests``; together most of
the metric's cost. The session is made once per process."""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.audio.audio_io import resample
from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

DNSMOS_RATE = 16000
# DNSMOS P.835 reads 9.01 s windows at a 1 s hop; shorter clips are repeated up to it (the reference implementation,
# as speechmos 0.0.1.1 runs it), and its raw outputs are mapped to MOS by these polynomials (highest power first).
DNSMOS_WINDOW_S = 9.01
DNSMOS_POLYNOMIALS = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}


@cache
def _dnsmos_session():
    import onnxruntime

    (package,) = importlib.util.find_spec("speechmos").submodule_search_locations
    return onnxruntime.InferenceSession(Path(package, "dnsmos_models", "sig_bak_ovr.onnx"))


def dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 ``sig``, ``bak`` and ``ovrl`` (1..5, higher is better) of a speech clip.

    The clip is resampled to 16 kHz and scaled to a -1 dBFS peak (DNSMOS needs samples in [-1, 1]); clips shorter
    than the model's 9.01 s input are doubled until they fill it, and longer ones scored in windows at a 1 s hop
    and averaged, as the reference implementation does (tested equal to ``speechmos.dnsmos.run``).
    """
    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, DNSMOS_RATE)
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak == 0.0:
        return {"sig": math.nan, "bak": math.nan, "ovrl": math.nan}
    signal = signal * (0.891 / peak)
    window = int(DNSMOS_WINDOW_S * DNSMOS_RATE)
    while len(signal) < window:
        signal = np.append(signal, signal)
    hops = int(np.floor(len(signal) / DNSMOS_RATE) - DNSMOS_WINDOW_S) + 1
    # window bounds computed as the reference does (its float rounding decides the last sample)
    segments = [signal[hop * DNSMOS_RATE : int((hop + DNSMOS_WINDOW_S) * DNSMOS_RATE)] for hop in range(hops)]
    session = _dnsmos_session()
    raw = [session.run(None, {"input_1": segment[None].astype(np.float32)})[0][0]
           for segment in segments if len(segment) >= window]  # fmt: skip
    return {name: float(np.mean([np.polyval(DNSMOS_POLYNOMIALS[name], scores[i]) for scores in raw]))
            for i, name in enumerate(("sig", "bak", "ovrl"))}  # fmt: skip


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    """``dnsmos_ovrl_change`` is the output's OVRL minus the content's (negative: the transfer lost naturalness)."""
    row = {}
    for prefix, clip in (("", analysis.clips["output"]), ("content_", analysis.content)):
        row.update({f"{prefix}dnsmos_{name}": value for name, value in dnsmos(*clip).items()})
    return row | {"dnsmos_ovrl_change": row["dnsmos_ovrl"] - row["content_dnsmos_ovrl"]}


METRIC = Metric(
    name="naturalness",
    summary="DNSMOS P.835 of output and content",
    columns=(
        Column("dnsmos_sig", "1..5", "higher"),
        Column("dnsmos_bak", "1..5", "higher"),
        Column("dnsmos_ovrl", "1..5", "higher", "DNSMOS OVRL", "key"),
        Column("content_dnsmos_sig", "1..5"),
        Column("content_dnsmos_bak", "1..5"),
        Column("content_dnsmos_ovrl", "1..5"),
        Column("dnsmos_ovrl_change", "vs content", "higher", "DNSMOS change", "key", headline=True),
    ),
    measure=measure,
    content_kinds=("speech",),
)
