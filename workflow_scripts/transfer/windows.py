"""Long clips in windows: ``gatys`` optimises a clip longer than ``window_frames`` window by window, neighbours
cross-faded, and knn's reported losses are measured the same way, so memory is bounded by the window, not the
clip."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch

from workflow_scripts.transfer.interface import TransferResult

# Frames cross-faded between neighbouring windows of a long clip (gatys, ``window_frames``).
WINDOW_OVERLAP = 64


def cross_fade(
    windows: Sequence[tuple[int, int]], pieces: Sequence[tuple[torch.Tensor, list[dict[str, float]]]], start: float
) -> TransferResult:
    """One clip from its optimised windows: neighbours cross-faded, histories concatenated, and the losses of the
    whole as the frame-weighted mean of the windows' final losses."""
    frames = windows[-1][1]
    output = torch.zeros(pieces[0][0].shape[0], frames, device=pieces[0][0].device)
    weight = torch.zeros(frames, device=output.device)
    history, finals = [], []
    for (lo, hi), (piece, rows) in zip(windows, pieces, strict=True):
        ramp = fade_weights(lo, hi, frames, WINDOW_OVERLAP).to(output.device)
        output[:, lo:hi] += piece * ramp
        weight[lo:hi] += ramp
        history += [{**row, "step": len(history) + number} for number, row in enumerate(rows, start=1)]
        finals.append((hi - lo, rows[-1]))
    summary = {"step": len(history), **frame_weighted(finals), "seconds": time.perf_counter() - start}
    return TransferResult((output / weight).cpu().numpy(), history, time.perf_counter() - start, summary)


def frame_weighted(rows: Sequence[tuple[int, Mapping[str, float]]]) -> dict[str, float]:
    """The losses of a windowed clip: the windows' ``(frames, row)`` losses averaged with their frame counts as
    weights."""
    frames = sum(length for length, _ in rows)
    return {key: sum(length * row[key] for length, row in rows) / frames for key in ("total", "content", "style")}


def time_windows(frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, stop)`` frame ranges of at most ``window`` frames covering ``frames``, neighbours sharing ``overlap``
    frames; one range when ``window`` is 0 or the clip fits."""
    if window <= 0 or frames <= window:
        return [(0, frames)]
    step = window - overlap
    count = -(-(frames - overlap) // step)
    return [(index * step, min(index * step + window, frames)) for index in range(count)]


def fade_weights(lo: int, hi: int, frames: int, overlap: int) -> torch.Tensor:
    """Weights of window ``lo:hi``: 1 inside, linear ramps over ``overlap`` frames where a neighbour overlaps it."""
    weights = torch.ones(hi - lo)
    ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
    if lo > 0:
        weights[:overlap] = ramp
    if hi < frames:
        weights[-overlap:] = torch.minimum(weights[-overlap:], ramp.flip(0))
    return weights
