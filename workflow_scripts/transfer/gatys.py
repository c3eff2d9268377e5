"""``gatys``: optimise a unit-scale mel so that its backbone features match the content's and their Gram matrices
the style's (Gatys et al.; on spectrograms, Ulyanov & Lebedev). Several contents in the style of one are solved as
batched problems, each with its own optimiser (:func:`~workflow_scripts.transfer.optimise.optimise_batch`); a clip
longer than ``window_frames`` is solved window by window (:mod:`workflow_scripts.transfer.windows`)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from workflow_scripts.pipeline.options import INITS, TransferOptions
from workflow_scripts.transfer.interface import Content, Setup, StyleClip, TransferResult
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.optimise import OnStep, optimise_batch
from workflow_scripts.transfer.windows import WINDOW_OVERLAP, cross_fade, time_windows


def transfer(
    contents: Sequence[Content], style: StyleClip, setup: Setup, on_step: OnStep | None = None
) -> list[TransferResult]:
    """The :data:`~workflow_scripts.transfer.interface.Method` ``gatys``: each content optimised from ``init`` for
    ``iterations`` steps against its own features and the style's Gram targets; ``options.batch_pairs`` problems
    (whole clips, or windows of clips longer than ``window_frames``) at a time.

    Each problem keeps its own optimiser (its L-BFGS memory and line search, its early stop), so each result is the
    one the content gets alone, up to the rounding of batched products. Every result's ``seconds`` is the batch's.
    ``on_step`` is called after every step of a lone problem (one content that fits one window) with its history
    row and the current unit-scale mel (detached; copy it to keep it), e.g. to keep snapshots of the trajectory.
    The convention is not used.
    """
    start = time.perf_counter()
    backbone, options, engine = setup.backbone, setup.options, setup.engine
    features = engine.features(backbone)
    content_ts = [engine.tensor(content.unit_mel) for content in contents]
    windows = [time_windows(c.shape[1], options.window_frames, WINDOW_OVERLAP) for c in content_ts]
    problems = [(index, lo, hi) for index, clip_windows in enumerate(windows) for lo, hi in clip_windows]
    initials = [initial_mel(content_t, options) for content_t in content_ts]
    objectives = [Objective(backbone, content_ts[i][:, lo:hi], style.targets, features) for i, lo, hi in problems]
    starts = [initials[i][:, lo:hi] for i, lo, hi in problems]
    solved = optimise_batch(objectives, features, starts, options.iterations, options, start, engine.progress,
                            on_step)  # fmt: skip
    results, first = [], 0
    for clip_windows in windows:
        pieces = solved[first : first + len(clip_windows)]
        first += len(clip_windows)
        if len(clip_windows) == 1:
            (unit_mel, history), = pieces  # fmt: skip
            results.append(TransferResult(unit_mel.cpu().numpy(), history, 0.0))
        else:
            results.append(cross_fade(clip_windows, pieces, start))
    seconds = time.perf_counter() - start
    for result in results:
        result.seconds = seconds
    return results


def initial_mel(content: torch.Tensor, options: TransferOptions) -> torch.Tensor:
    """Where ``gatys`` starts: the content, or seeded noise with its mean and spread. The noise is drawn on the CPU
    and moved, so every device starts from the same numbers."""
    if options.init == "content":
        return content.clone()
    if options.init == "noise":
        generator = torch.Generator().manual_seed(options.seed)
        noise = torch.randn(content.shape, generator=generator).to(content.device)
        return content.mean() + content.std() * noise
    raise ValueError(f"unknown init {options.init!r}; use one of {', '.join(INITS)}")
