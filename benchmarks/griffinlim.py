"""Griffin-Lim: the project's torch implementation against librosa.griffinlim on the same magnitude.

Both get the magnitude of the project's framing (reflect-padded, uncentred); librosa runs with ``center=False`` so
its frames are those same frames. Each result is scored twice: in the project's framing (what the pipeline uses)
and in the framing it was reconstructed in. The initial phase is random, so each implementation runs once per seed:
the table gives the best time and the mean convergence.
"""

from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np
import torch

from benchmarks.common import clip, print_table, source_of, timed
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.vocoders.griffinlim import fast_griffin_lim, griffin_lim, random_phasors

SEEDS = (0, 1, 2, 3, 4)
# librosa on the project's frames: uncentred and unpadded, so the samples under the padding are free, where the
# project's framing requires them to be the reflection of the clip (as the mel convention's analysis assumes)
LIBROSA_FRAMING = {"n_fft": HIFIGAN.n_fft, "hop_length": HIFIGAN.hop_length, "center": False}


def spectral_convergence_db(rebuilt: np.ndarray, target: np.ndarray) -> float:
    """``20 log10(|| |STFT(audio)| - target || / ||target||)``."""
    return float(20 * np.log10(np.linalg.norm(rebuilt - target) / np.linalg.norm(target)))


def project_framing(audio: torch.Tensor) -> np.ndarray:
    return HIFIGAN.stft(audio).abs().numpy()


def librosa_framing(audio: torch.Tensor) -> np.ndarray:
    return np.abs(librosa.stft(audio.numpy(), **LIBROSA_FRAMING))


def librosa_to_project(audio: torch.Tensor) -> np.ndarray:
    """Project-framing magnitude of audio reconstructed in librosa's framing: the padding is cut, then
    re-analysed (reflect-padded), as the pipeline would use it."""
    return project_framing(audio[HIFIGAN.padding : -HIFIGAN.padding])


def project(magnitude: np.ndarray, iterations: int, seed: int) -> torch.Tensor:
    return griffin_lim(torch.from_numpy(magnitude), HIFIGAN, iterations, seed=seed)


def reference(magnitude: np.ndarray, iterations: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(librosa.griffinlim(magnitude, n_iter=iterations, random_state=seed, **LIBROSA_FRAMING))


def project_loop_in_librosa_framing(magnitude: np.ndarray, iterations: int, seed: int) -> torch.Tensor:
    """The project's iteration and seeds with librosa's transforms: isolates what the framing itself does."""
    return fast_griffin_lim(
        torch.from_numpy(magnitude),
        random_phasors(torch.from_numpy(magnitude), torch.Generator().manual_seed(seed)),
        lambda audio: torch.from_numpy(librosa.stft(audio.numpy(), **LIBROSA_FRAMING)),
        lambda spec: torch.from_numpy(librosa.istft(spec.numpy(), **LIBROSA_FRAMING)),
        iterations,
        momentum=0.99,
    )


PROJECT_SCORES = (project_framing, project_framing)
LIBROSA_SCORES = (librosa_to_project, librosa_framing)


def measure(
    implementation: Callable, scores: tuple[Callable, Callable], magnitude: np.ndarray, iterations: int, threads: int
) -> dict[str, float]:
    """Best time over :data:`SEEDS`; mean spectral convergence (dB) scored by ``scores``: in the project's framing and
    in the framing the implementation reconstructs in; the seed-to-seed spread of the latter."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runs = [timed(lambda s=seed: implementation(magnitude, iterations, s)) for seed in SEEDS]
    finally:
        torch.set_num_threads(previous_threads)
    in_project, in_own = ([spectral_convergence_db(score(audio), magnitude) for _, audio in runs] for score in scores)
    return {"seconds": min(t for t, _ in runs), "dB, project framing": float(np.mean(in_project)),
            "dB, own framing": float(np.mean(in_own)), "seed std dB": float(np.std(in_own))}  # fmt: skip


def run(iterations: int = 100, seconds: float = 10.0) -> None:
    audio = clip("content2", HIFIGAN.sample_rate, seconds)
    magnitude = project_framing(torch.from_numpy(audio))
    threads = torch.get_num_threads()
    project(magnitude, 2, 0)  # warm-up: first-call allocations and FFT plans
    baseline = measure(reference, LIBROSA_SCORES, magnitude, iterations, 1)
    rows = [{"implementation": "librosa.griffinlim (numpy FFT, 1 thread)", **baseline, "speed-up": 1.0}]
    for count in sorted({1, threads}):
        ours = measure(project, PROJECT_SCORES, magnitude, iterations, count)
        rows.append({"implementation": f"project (torch, {count} thread{'s' if count > 1 else ''})", **ours,
                     "speed-up": baseline["seconds"] / ours["seconds"]})  # fmt: skip
    in_librosa_framing = measure(project_loop_in_librosa_framing, LIBROSA_SCORES, magnitude, iterations, 1)
    rows.append({"implementation": "project iteration and seeds, librosa's framing", **in_librosa_framing,
                 "speed-up": ""})  # fmt: skip
    print_table(
        f"Griffin-Lim, {iterations} iterations, momentum 0.99, {seconds:g} s clip ({source_of('content2')}), "
        f"same magnitude; best time and mean convergence over seeds {', '.join(map(str, SEEDS))}",
        rows,
    )
