"""Speaker family (speech to speech): cosine similarity of GE2E speaker embeddings from the pretrained encoder that
the ``resemblyzer`` wheel ships (weights inside the package; nothing is downloaded), and how far the output moved
from the content's speaker towards the style's. The encoder is loaded once per process and device."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from workflow_scripts.audio.audio_io import resample
from workflow_scripts.audio.filterbank import hann_window, mel_filterbank
from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    import torch

    from workflow_scripts.metrics.analysis import OutputAnalysis

SPEAKER_RATE = 16000  # GE2E (resemblyzer) works at 16 kHz


@cache
def _speaker_encoder(device: torch.device):
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device, verbose=False)


def speaker_mel(signal: np.ndarray) -> np.ndarray:
    """``(frames, 40)`` float32 power mel of 16 kHz audio as GE2E reads it: resemblyzer's
    ``wav_to_mel_spectrogram`` (librosa's ``melspectrogram``: 25 ms periodic Hann windows every 10 ms, centred with
    zero padding, Slaney filters to 8 kHz), computed without librosa's imports."""
    n_fft, hop = SPEAKER_RATE * 25 // 1000, SPEAKER_RATE * 10 // 1000
    padded = np.pad(signal, n_fft // 2)
    starts = hop * np.arange(1 + len(signal) // hop)
    frames = padded[starts[None, :] + np.arange(n_fft)[:, None]]  # (n_fft, frames), librosa's layout
    spectrum = np.fft.rfft(hann_window(n_fft)[:, None] * frames, axis=0).astype(np.complex64)
    power = np.abs(spectrum) ** 2
    filters = mel_filterbank(SPEAKER_RATE, n_fft, 40, 0.0, SPEAKER_RATE / 2)
    return np.einsum("...ft,mf->...mt", power, filters, optimize=True).astype(np.float32).T


def speaker_embedding(audio: np.ndarray, sample_rate: int, device: torch.device | str = "cpu") -> np.ndarray:
    """Unit-norm 256-d GE2E embedding of an utterance, the encoder run on ``device`` (one encoder per device and
    process): resemblyzer's ``preprocess_wav`` (level, long silences) and ``embed_utterance`` (the mean of the
    embeddings of 1.6 s partials, 1.3 per second), with its resampling and mel computed here (:func:`speaker_mel`;
    tested equal to resemblyzer's own)."""
    import torch
    from resemblyzer import preprocess_wav

    resampled = resample(np.asarray(audio, dtype=np.float32), sample_rate, SPEAKER_RATE)
    signal = preprocess_wav(resampled)
    if len(signal) == 0:  # resemblyzer's VAD found nothing: embed the clip as it is
        signal = resampled
    encoder = _speaker_encoder(torch.device(device))
    signal_slices, mel_slices = encoder.compute_partial_slices(len(signal), rate=1.3, min_coverage=0.75)
    signal = np.pad(signal, (0, max(signal_slices[-1].stop - len(signal), 0)))
    mel = speaker_mel(signal)
    with torch.no_grad():
        partials = encoder(torch.from_numpy(np.array([mel[s] for s in mel_slices])).to(encoder.device)).cpu().numpy()
    embedding = np.mean(partials, axis=0)
    return embedding / np.linalg.norm(embedding, 2)


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


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    clips = analysis.clips
    return speaker_similarity(*(speaker_embedding(*clips[name]) for name in ("content", "style", "output")))


METRIC = Metric(
    name="speaker",
    summary="GE2E speaker similarity and how far it moved towards the style",
    columns=(
        Column("speaker_sim_style", "-1..1", "higher", "speaker sim to style", "key"),
        Column("speaker_sim_content", "-1..1"),
        Column("speaker_sim_content_style", "-1..1"),
        Column("speaker_moved", "0 none, 1 style's", "higher", "speaker moved", "key", headline=True),
    ),
    measure=measure,
    content_kinds=("speech",),
    style_kinds=("speech",),
)
