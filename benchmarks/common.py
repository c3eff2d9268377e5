"""Shared benchmark helpers: test clips, timing, memory, table printing."""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workflow_scripts.audio.audio_io import load_audio, normalise, resample, to_mono
from workflow_scripts.pipeline.demo_corpus import bowed_tone, plucked_melody


def _seed_examples() -> Path:
    """Real recordings (never copied into the project): ``$SEED_EXAMPLES`` when set, else ``shared/data/
    seed_examples`` beside the checkout, or beside the main checkout when this one is a git worktree (whose ``.git``
    file points into the main checkout's ``.git/worktrees``)."""
    if "SEED_EXAMPLES" in os.environ:
        return Path(os.environ["SEED_EXAMPLES"])
    checkout = Path(__file__).resolve().parents[1]
    candidates = [checkout.parent]
    git = checkout / ".git"
    if git.is_file() and git.read_text().startswith("gitdir:"):
        # gitdir: <main checkout>/.git/worktrees/<name>
        candidates.append(Path(git.read_text().partition(":")[2].strip()).resolve().parents[2].parent)
    found = [root / "shared" / "data" / "seed_examples" for root in candidates]
    return next((path for path in found if path.is_dir()), found[0])


SEED_EXAMPLES = _seed_examples()


def clip(name: str, sample_rate: int, seconds: float | None = None) -> np.ndarray:
    """A benchmark clip, mono at ``sample_rate``, tiled or cut to ``seconds``.

    ``name`` is a seed example (``content1`` ... ``style3``) when present, else a demo synth (``plucked``,
    ``bowed``) is used so the benchmark also runs on a machine without the shared data.
    """
    path = SEED_EXAMPLES / f"{name}.wav"
    if path.is_file():
        audio, rate = load_audio(path)
        mono = resample(to_mono(audio), rate, sample_rate)
    else:
        mono = (plucked_melody if "content" in name or name == "plucked" else bowed_tone)(sample_rate)
    mono = normalise(mono, "peak", -1.0)
    if seconds is not None:
        target = int(seconds * sample_rate)
        mono = np.tile(mono, target // len(mono) + 1)[:target]
    return mono.astype(np.float32)


def source_of(name: str) -> str:
    return "seed example" if (SEED_EXAMPLES / f"{name}.wav").is_file() else "synthetic"


def synchronize(device: torch.device | str = "cpu") -> None:
    """Wait for the work queued on ``device``: a GPU runs behind the host, so its times are read after this."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(function: Callable[[], Any], repeat: int = 1, device: torch.device | str = "cpu") -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last result, the work queued on ``device`` included."""
    best, result = float("inf"), None
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        result = function()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB).

    On Linux this is ``VmHWM``, the peak of this process's own address space. ``ru_maxrss`` is not used there: a
    process started by fork and exec (as :func:`run_isolated` starts one) inherits its parent's peak in it.
    """
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """Resident memory of this process now (MiB); None where ``/proc`` does not say."""
    return _proc_status_mb("VmRSS")


def _proc_status_mb(field: str) -> float | None:
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return None


def run_isolated(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``function(*args)`` in a fresh process; its result gains ``peak_rss_mb``, that process's own peak.

    ``function`` must be importable (module level) so the spawned process can find it.
    """
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_with_peak_rss, (function, *args))


def _with_peak_rss(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    result = function(*args)
    return {**result, "peak_rss_mb": peak_rss_mb()}


def print_table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    print(f"\n## {title}\n")
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    cells = [[_format(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
