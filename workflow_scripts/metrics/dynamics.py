"""Dynamics, harmony and smoothness of a transfer: what a listener notices when a transfer fills quiet passages,
cuts decays, smears chords or stutters.

- **Loudness contour** (every output): ITU-R BS.1770 momentary loudness (K-weighting as implemented by
  ``pyloudnorm``, mean square over 400 ms blocks every 100 ms, in LUFS) of content and output on the same
  (trimmed) timeline. Every block counts once, so silences, lead-ins and decays weigh as much as loud notes.
- **Harmony** (music content): chroma from a constant-Q transform (``librosa.feature.chroma_cqt``), compared frame
  by frame on the content's audible frames. A monophonic F0 tracker says nothing reliable about chords; chroma does.
- **Temporal smoothness** (every output): the median frame-to-frame change of the log-mel, for the output, the
  content and the style. Fast switching between unrelated frames (stutter) raises every frame's change; a few
  onsets do not move the median.

Every function takes mono float audio (or log-mel in dB, ``(n_mels, frames)``) and documents its range and which
direction is better; docs/metrics.md lists the columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from workflow_scripts.audio.audio_io import resample

# BS.1770 momentary loudness: 400 ms blocks; the hop of EBU Tech 3341's momentary meter (10 per second).
MOMENTARY_BLOCK_S = 0.4
MOMENTARY_HOP_S = 0.1
# A loudness contour is floored this far below its loudest block: below it differences are inaudible, and
# digital silence (-inf LUFS) would otherwise decide the correlation alone.
LOUDNESS_RANGE_LU = 60.0
# Content blocks this far below the content's loudest block are its quiet passages (lead-ins, pauses, decay tails).
QUIET_BELOW_LU = 20.0
# Chroma (and the frames it is compared on) at this rate and hop: 23 ms frames.
CHROMA_RATE = 22050
CHROMA_HOP = 512
# Content frames this far below the content's loudest frame carry no harmony worth comparing.
AUDIBLE_RANGE_DB = 40.0
# Frame level (dBFS) of digital silence and rounding noise: never audible.
DIGITAL_SILENCE_DB = -120.0
# Log-mel floor of the smoothness measure, below each clip's loudest bin: the frame-to-frame jitter of noise far
# below the music is not heard as stutter.
CHANGE_RANGE_DB = 60.0


def loudness_contour(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """BS.1770 momentary loudness (LUFS) of every 400 ms block, hop 100 ms, ``(blocks,)``.

    pyloudnorm's BS.1770-4 meter (K-weighting filters designed for ``sample_rate``, one channel of weight 1,
    ``-0.691 + 10 log10(mean square)`` per block) measures the blocks; its gating is not applied to the contour.
    A clip shorter than one block is padded with silence to one block. The contour is floored
    :data:`LOUDNESS_RANGE_LU` below its loudest block (an all-silent clip reads -200 LUFS throughout).
    """
    from pyloudnorm import Meter

    signal = np.asarray(audio, dtype=np.float64)
    block = int(np.ceil(MOMENTARY_BLOCK_S * sample_rate))
    signal = np.pad(signal, (0, max(block - len(signal), 0)))
    meter = Meter(sample_rate, block_size=MOMENTARY_BLOCK_S, overlap=1.0 - MOMENTARY_HOP_S / MOMENTARY_BLOCK_S)
    with np.errstate(divide="ignore"):
        meter.integrated_loudness(signal)  # fills meter.blockwise_loudness
    loudness = np.maximum(np.asarray(meter.blockwise_loudness, dtype=np.float64), -200.0)
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
        "loudness_corr": _pearson(a, b),
        "quiet_lift_lu": float(np.mean(b[quiet] - a[quiet])) if quiet.any() else math.nan,
    }


def chroma(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Chroma ``(12, frames)`` of the constant-Q transform at :data:`CHROMA_RATE`, hop :data:`CHROMA_HOP`, tuned
    to A440 (no per-clip tuning estimate, so content and output are read on the same pitch grid)."""
    import librosa

    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, CHROMA_RATE)
    return librosa.feature.chroma_cqt(y=signal, sr=CHROMA_RATE, hop_length=CHROMA_HOP, tuning=0.0)


def frame_level_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level (dB) of the frames of :func:`chroma`, ``(frames,)``."""
    import librosa

    signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, CHROMA_RATE)
    rms = librosa.feature.rms(y=signal, frame_length=2 * CHROMA_HOP, hop_length=CHROMA_HOP)[0]
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def chroma_corr(content: tuple[np.ndarray, int], output: tuple[np.ndarray, int]) -> float:
    """Mean, over the content's audible frames (within :data:`AUDIBLE_RANGE_DB` of its loudest, above digital
    silence), of the Pearson
    correlation of the 12 chroma values of content and output (each ``(audio, sample_rate)``) in the same frame.

    Range -1..1, higher is better: 1 means every frame holds the same pitch classes in the same proportions (an
    octave transposition keeps it; a transposition by other intervals does not); about 0 for noise or unrelated
    harmony; a frame whose chroma is flat in either clip counts 0. NaN when the content has no audible frame.
    """
    a, b = chroma(*content), chroma(*output)
    level = frame_level_db(*content)
    frames = min(a.shape[1], b.shape[1], len(level))
    audible = (level[:frames] >= level[:frames].max() - AUDIBLE_RANGE_DB) & (level[:frames] > DIGITAL_SILENCE_DB)
    if not audible.any():
        return math.nan
    a, b = a[:, :frames][:, audible], b[:, :frames][:, audible]
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    norms = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    per_frame = np.where(norms > 1e-12, (a * b).sum(axis=0) / np.maximum(norms, 1e-12), 0.0)
    return float(per_frame.mean())


def frame_change_db(db: np.ndarray) -> float:
    """Median frame-to-frame change of a log-mel (dB, ``(n_mels, frames)``): the mean absolute difference over
    bands between consecutive frames, both floored :data:`CHANGE_RANGE_DB` below the clip's loudest bin, its median
    over the pairs of frames of which at least one is above the floor in some band.

    Range 0..inf dB, lower is smoother. The median ignores onsets (a few frames) and sees stutter (every frame).
    0 for a clip of fewer than two audible frames.
    """
    floored = np.maximum(db, db.max() - CHANGE_RANGE_DB)
    change = np.abs(np.diff(floored, axis=1)).mean(axis=0)
    above = (floored > db.max() - CHANGE_RANGE_DB).any(axis=0)
    audible = above[1:] | above[:-1]
    return float(np.median(change[audible])) if audible.any() else 0.0


def smoothness(content_db: np.ndarray, style_db: np.ndarray, output_db: np.ndarray) -> dict[str, float]:
    """:func:`frame_change_db` of output, content and style (log-mels in dB in one space), and
    ``frame_change_ratio``: the output's over the smoother (lower) of content and style.

    The ratio is 0..inf, lower is better: 1 means the output changes from frame to frame as little as the smoother
    of its two sources; well above 1 is stutter (switching between unrelated frames). The target is at most 1.5.
    NaN when both sources are static (zero change).
    """
    change = {name: frame_change_db(db) for name, db in (("", output_db), ("content_", content_db),
                                                           ("style_", style_db))}  # fmt: skip
    smoother = min(change["content_"], change["style_"])
    return {
        **{f"{prefix}frame_change_db": value for prefix, value in change.items()},
        "frame_change_ratio": change[""] / smoother if smoother > 0 else math.nan,
    }


def dynamics_columns(
    clips: Mapping[str, tuple[np.ndarray, int]],
    spaces: Mapping[str, np.ndarray],
    mels: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
) -> dict[str, float]:
    """The loudness, harmony and smoothness columns of one output.

    Args:
        clips: ``content``, ``style`` and ``output`` as ``(mono audio, sample_rate)``.
        spaces: the same three as log-mels in dB in one feature space (the evaluation space).
        mels: ``content``, ``style`` and the stylised mel (``output``) in dB in the vocoder's convention, before
            vocoding: ``frame_change_ratio_mel`` is :func:`smoothness`'s ratio there, so that a vocoder's own
            frame-to-frame jitter can be told from the transfer's.
        kinds: ``content`` is ``speech`` or ``music``; ``chroma_corr`` applies to music content only (NaN else).
    """
    harmony = chroma_corr(clips["content"], clips["output"]) if kinds["content"] == "music" else math.nan
    return {
        **loudness_agreement(clips["content"], clips["output"]),
        "chroma_corr": harmony,
        **smoothness(spaces["content"], spaces["style"], spaces["output"]),
        "frame_change_ratio_mel": smoothness(mels["content"], mels["style"], mels["output"])["frame_change_ratio"],
    }


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 1e-12 else 0.0
