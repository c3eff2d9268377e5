"""Field-standard measurements of a transfer: pitch kept, speaker moved, naturalness.

- **Pitch** (pitched content): F0 tracks from CREPE (:mod:`workflow_scripts.pitch`); the log-F0 Pearson correlation
  between content and output on frames voiced in both, and the voicing agreement (1 minus the voicing decision
  error) over all frames.
- **Speaker similarity** (speech to speech): cosine similarity of GE2E speaker embeddings from the pretrained
  encoder that the ``resemblyzer`` wheel ships (weights inside the package; nothing is downloaded).
- **Naturalness** (speech content): DNSMOS P.835 (SIG, BAK, OVRL) from the ONNX models that the ``speechmos`` wheel
  ships, run with ``onnxruntime`` (its CPU provider: the ``onnxruntime`` wheel has no CUDA provider, and speechmos
  creates its sessions with the defaults).

Models are loaded once per process (:func:`functools.cache`), so a job that measures several clips pays once.
Every function takes mono float audio at any sample rate and resamples it to the rate its model needs.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch

from workflow_scripts.audio_io import resample

# Below this many frames voiced in both clips a correlation says nothing; the metric is left empty.
MIN_VOICED_FRAMES = 20
# Content with fewer voiced frames than this fraction is not pitched (drums, noise): no pitch metrics.
MIN_VOICED_FRACTION = 0.2

SPEAKER_RATE = 16000  # GE2E (resemblyzer) works at 16 kHz
DNSMOS_RATE = 16000


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
def _dnsmos():
    from speechmos import dnsmos

    return dnsmos


def dnsmos(audio: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 ``sig``, ``bak`` and ``ovrl`` (1..5, higher is better) of a speech clip.

    The clip is resampled to 16 kHz and scaled to a -1 dBFS peak (DNSMOS needs samples in [-1, 1]); clips shorter
    than the model's 9 s input are repeated, as the reference implementation does.
    """
    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, DNSMOS_RATE)
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak == 0.0:
        return {"sig": math.nan, "bak": math.nan, "ovrl": math.nan}
    scores = _dnsmos().run(signal * (0.891 / peak), DNSMOS_RATE)
    return {"sig": float(scores["sig_mos"]), "bak": float(scores["bak_mos"]), "ovrl": float(scores["ovrl_mos"])}


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
