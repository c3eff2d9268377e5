"""Griffin-Lim: the project's torch implementation against librosa.griffinlim, same magnitude and iterations."""

from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np
import torch

from benchmarks.common import clip, print_table, source_of, timed
from workflow_scripts.conventions import HIFIGAN
from workflow_scripts.vocoders import griffin_lim


def project_magnitude(audio: np.ndarray) -> np.ndarray:
    return HIFIGAN.stft(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))).abs().numpy()


def librosa_magnitude(audio: np.ndarray) -> np.ndarray:
    # librosa's own (centred) framing with the same window and hop
    return np.abs(librosa.stft(audio, n_fft=HIFIGAN.n_fft, hop_length=HIFIGAN.hop_length))


def spectral_convergence_db(audio: np.ndarray, target: np.ndarray, analyse: Callable) -> float:
    """``20 log10(||  |STFT(audio)| - target || / ||target||)`` over the frames both have."""
    rebuilt = analyse(audio)
    frames = min(rebuilt.shape[1], target.shape[1])
    return float(20 * np.log10(np.linalg.norm(rebuilt[:, :frames] - target[:, :frames]) / np.linalg.norm(target)))


def run(iterations: int = 100, seconds: float = 10.0) -> None:
    audio = clip("content2", HIFIGAN.sample_rate, seconds)
    ours_target, their_target = project_magnitude(audio), librosa_magnitude(audio)
    ours_s, ours = timed(lambda: griffin_lim(torch.from_numpy(ours_target), HIFIGAN, iterations).numpy())
    theirs_s, theirs = timed(
        lambda: librosa.griffinlim(
            their_target, n_iter=iterations, hop_length=HIFIGAN.hop_length, n_fft=HIFIGAN.n_fft, random_state=0
        )
    )
    print_table(
        f"Griffin-Lim, {iterations} iterations, momentum 0.99, {seconds:g} s clip ({source_of('content2')}), "
        f"{torch.get_num_threads()} threads",
        [
            {
                "implementation": "project (torch)",
                "seconds": ours_s,
                "spectral convergence dB": spectral_convergence_db(ours, ours_target, project_magnitude),
            },
            {
                "implementation": "librosa.griffinlim",
                "seconds": theirs_s,
                "spectral convergence dB": spectral_convergence_db(theirs, their_target, librosa_magnitude),
            },
            {
                "implementation": "speed-up (librosa / project)",
                "seconds": theirs_s / ours_s,
                "spectral convergence dB": "",
            },
        ],
    )
