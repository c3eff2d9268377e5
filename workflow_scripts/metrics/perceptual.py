"""Field-standard measurements of a transfer: pitch kept, speaker moved, naturalness.

- **Pitch** (pitched content): F0 tracks from CREPE (:mod:`workflow_scripts.audio.pitch`); the log-F0 Pearson
  correlation between content and output on frames voiced in both, and the voicing agreement (1 minus the voicing
  decision error) over all frames.
- **Speaker similarity** (speech to speech): cosine similarity of GE2E speaker embeddings from the pretrained
  encoder that the ``resemblyzer`` wheel ships (weights inside the package; nothing is downloaded).
- **Naturalness** (speech content): DNSMOS P.835 (SIG, BAK, OVRL) from the ONNX model that the ``speechmos`` wheel
  ships, run with ``onnxruntime`` (its CPU provider: the ``onnxruntime`` wheel has no CUDA provider). The model
  file is run here, as speechmos runs it, without importing speechmos: its ``run`` also loads and evaluates the
  P.808 model, whose score no column uses, and imports ``requests``; together most of the metric's cost.

Models are loaded once per process (:func:`functools.cache`), so a job that measures several clips pays once.
Every function takes mono float audio at any sample rate and resamples it to the rate its model needs.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from pathlib import Path

import numpy as np
import torch

from workflow_scripts.audio.audio_io import resample

# Below this many frames voiced in both clips a correlation says nothing; the metric is left empty.
MIN_VOICED_FRAMES = 20
# Content with fewer voiced frames than this fraction is not pitched (drums, noise): no pitch metrics.
MIN_VOICED_FRACTION = 0.2

SPEAKER_RATE = 16000  # GE2E (resemblyzer) works at 16 kHz
DNSMOS_RATE = 16000
# DNSMOS P.835 reads 9.01 s windows at a 1 s hop; shorter clips are repeated up to it (the reference implementation,
# as speechmos 0.0.1.1 runs it), and its raw outputs are mapped to MOS by these polynomials (highest power first).
DNSMOS_WINDOW_S = 9.01
DNSMOS_POLYNOMIALS = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}


def is_pitched(f0: np.ndarray) -> bool:
    """Whether an F0 track (NaN where unvoiced) is voiced on at least :data:`MIN_VOICED_FRACTION` of its frames."""
    return bool(len(f0)) and float(np.mean(np.isfinite(f0))) >= MIN_VOICED_FRACTION


def pitch_agreement(content_f0: np.ndarray, output_f0: np.ndarray) -> dict[str, float]:
    """Compare two F0 tracks (Hz, NaN where unvoiced) over the frames both have.

    Returns:
        ``content_voiced``: fraction of the content's frames that are voiced (0..1).
        ``f0_corr``: Pearson correlation of log-F0 on frames voiced in both (-1..1, higher is better; 1 keeps the
        melody up to a transposition). NaN when the content is not pitched (voiced fraction below
        :data:`MIN_VOICED_FRACTION`) or fewer than :data:`MIN_VOICED_FRAMES` frames are voiced in both.
        ``voicing_agreement``: fraction of frames whose voiced/unvoiced decisions agree (0..1, higher is better;
        1 minus the voicing decision error). NaN when the content is not pitched.
    """
    frames = min(len(content_f0), len(output_f0))
    content_f0, output_f0 = content_f0[:frames], output_f0[:frames]
    content_voiced, output_voiced = np.isfinite(content_f0), np.isfinite(output_f0)
    voiced_fraction = float(np.mean(content_voiced)) if frames else 0.0
    result = {"content_voiced": voiced_fraction, "f0_corr": math.nan, "voicing_agreement": math.nan}
    if not is_pitched(content_f0):
        return result
    result["voicing_agreement"] = float(np.mean(content_voiced == output_voiced))
    both = content_voiced & output_voiced
    if np.count_nonzero(both) >= MIN_VOICED_FRAMES:
        a, b = np.log(content_f0[both]), np.log(output_f0[both])
        if a.std() > 0 and b.std() > 0:
            result["f0_corr"] = float(np.corrcoef(a, b)[0, 1])
    return result


@cache
def _speaker_encoder(device: torch.device):
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device, verbose=False)


def speaker_embedding(audio: np.ndarray, sample_rate: int, device: torch.device | str = "cpu") -> np.ndarray:
    """Unit-norm 256-d GE2E embedding of an utterance (resemblyzer's preprocessing: level, long silences), the
    encoder run on ``device`` (one encoder per device and process)."""
    from resemblyzer import preprocess_wav

    signal = preprocess_wav(np.asarray(audio, dtype=np.float32), source_sr=sample_rate)
    if len(signal) == 0:  # resemblyzer's VAD found nothing: embed the clip as it is
        signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, SPEAKER_RATE)
    return _speaker_encoder(torch.device(device)).embed_utterance(signal)


def speaker_similarity(content: np.ndarray, style: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """Cosine similarities of three :func:`speaker_embedding` vectors and how far the output moved.

    Returns ``speaker_sim_style`` (output vs style), ``speaker_sim_content`` (output vs content),
    ``speaker_sim_content_style`` (content vs style; the starting point) and ``speaker_moved``:
    ``(sim(output, style) - sim(content, style)) / (1 - sim(content, style))``, the fraction of the way from the
    content's similarity to the style to a perfect match (0: no closer than the content, 1: same embedding;
    negative: further away). Similarities lie in -1..1 (GE2E embeddings are non-negative, so in practice 0..1).
    """
    start = float(content @ style)
    towards = float(output @ style)
    return {
        "speaker_sim_style": towards,
        "speaker_sim_content": float(output @ content),
        "speaker_sim_content_style": start,
        "speaker_moved": (towards - start) / max(1.0 - start, 1e-6),
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


SPEAKER_COLUMNS = ("speaker_sim_style", "speaker_sim_content", "speaker_sim_content_style", "speaker_moved")
DNSMOS_COLUMNS = (
    "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "content_dnsmos_sig", "content_dnsmos_bak", "content_dnsmos_ovrl",
    "dnsmos_ovrl_change",
)  # fmt: skip


def speech_columns(
    content: tuple[np.ndarray, int], style: tuple[np.ndarray, int], output: tuple[np.ndarray, int], kinds: dict
) -> dict[str, float]:
    """Speaker similarity (content and style both ``speech``) and DNSMOS of output and content (content
    ``speech``), each ``(audio, sample_rate)``; columns that do not apply are NaN, never a made-up number.

    ``dnsmos_ovrl_change`` is the output's OVRL minus the content's (negative: the transfer lost naturalness).
    """
    row = dict.fromkeys((*SPEAKER_COLUMNS, *DNSMOS_COLUMNS), math.nan)
    if kinds["content"] == "speech" and kinds["style"] == "speech":
        row.update(speaker_similarity(*(speaker_embedding(*clip) for clip in (content, style, output))))
    if kinds["content"] == "speech":
        for prefix, clip in (("", output), ("content_", content)):
            row.update({f"{prefix}dnsmos_{name}": value for name, value in dnsmos(*clip).items()})
        row["dnsmos_ovrl_change"] = row["dnsmos_ovrl"] - row["content_dnsmos_ovrl"]
    return row
