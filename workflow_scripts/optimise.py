"""Style transfer of a unit-scale mel: Gatys-style optimisation (``gatys``) or feature matching (``knn``).

``gatys`` optimises the mel so that its backbone features match the content's and their Gram matrices the
style's. ``knn`` rebuilds every content frame from its nearest style frames (:mod:`workflow_scripts.matching`) and
can then refine the result with the same objective.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.backbones import Backbone
from workflow_scripts.conventions import MelConvention
from workflow_scripts.losses import GramTarget, content_loss
from workflow_scripts.matching import feature_matching, follow_loudness
from workflow_scripts.options import INITS, OPTIMIZERS, TransferOptions
from workflow_scripts.style_statistics import style_targets

LINE_SEARCH_EVALUATIONS = 25
# Frames cross-faded between neighbouring windows of a long clip (gatys, ``window_frames``).
WINDOW_OVERLAP = 64


@dataclass
class TransferResult:
    unit_mel: np.ndarray
    history: list[dict[str, float]]
    seconds: float
    # the losses of the whole result when its last history row is not (windowed optimisation)
    summary: dict[str, float] | None = None

    @property
    def final(self) -> dict[str, float]:
        return self.summary or self.history[-1]


class Objective:
    """Weighted content + style loss of a backbone against fixed targets.

    Each of the two losses is the weighted mean over its layers (weights from ``backbone.content_layers`` and
    ``backbone.style_layers``), so it stays relative: 0.01 means 1 % of the target's energy.

    Args:
        backbone: feature extractor.
        content: unit-scale content mel ``(n_mels, frames)``; its features are computed here.
        style_targets: ``{layer: GramTarget}`` for every style layer (see
            :func:`workflow_scripts.style_statistics.style_targets`).
    """

    def __init__(self, backbone: Backbone, content: torch.Tensor, style_targets: Mapping[str, GramTarget]) -> None:
        self.backbone = backbone
        with torch.no_grad():
            content_maps = backbone(content[None])
        self.content_targets = {name: content_maps[name] for name in backbone.content_layers}
        self.style_targets = {name: style_targets[name] for name in backbone.style_layers}

    def __call__(self, unit_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, content, style)`` losses of ``unit_mel`` ``(n_mels, frames)``."""
        maps = self.backbone(unit_mel[None])
        content = _weighted_mean(
            {n: content_loss(maps[n], t) for n, t in self.content_targets.items()}, self.backbone.content_layers
        )
        style = _weighted_mean(
            {n: target.loss(maps[n]) for n, target in self.style_targets.items()}, self.backbone.style_layers
        )
        options = self.backbone.options
        return options.content_weight * content + options.style_weight * style, content, style


def _weighted_mean(losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    return sum(weights[name] * loss for name, loss in losses.items()) / sum(weights[name] for name in losses)


def style_transfer(
    content: np.ndarray,
    style: np.ndarray | Mapping[str, GramTarget],
    backbone: Backbone,
    options: TransferOptions,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_step: Callable[[dict[str, float], torch.Tensor], None] | None = None,
) -> TransferResult:
    """``gatys``: optimise a unit-scale mel with ``content``'s features and ``style``'s Gram statistics.

    Args:
        content: unit-scale content mel ``(n_mels, frames)``; the result has the same shape.
        style: unit-scale style mel ``(n_mels, style_frames)`` of any length, or its precomputed Gram targets
            (:func:`workflow_scripts.style_statistics.style_targets`, as the pipeline's ``style_stats`` rule stores).
        backbone: feature extractor (moved to ``device``).
        options: optimiser settings (``iterations`` steps from ``init``).
        device: torch device to optimise on.
        progress: show a tqdm bar on stderr.
        on_step: called after every step with its history row and the current unit-scale mel (detached; copy it
            to keep it), e.g. to keep snapshots of the trajectory.

    Returns:
        The optimised unit-scale mel, the loss history (one row per step) and the wall time.
    """
    start = time.perf_counter()
    backbone = backbone.to(device)
    content_t = torch.as_tensor(content, dtype=torch.float32, device=device)
    if not isinstance(style, Mapping):
        style = style_targets(backbone, torch.as_tensor(style, dtype=torch.float32, device=device))
    objective = Objective(backbone, content_t, style)

    if options.init == "content":
        initial = content_t.clone()
    elif options.init == "noise":
        generator = torch.Generator().manual_seed(options.seed)
        noise = torch.randn(content_t.shape, generator=generator).to(device)
        initial = content_t.mean() + content_t.std() * noise
    else:
        raise ValueError(f"unknown init {options.init!r}; use one of {', '.join(INITS)}")
    windows = time_windows(content_t.shape[1], options.window_frames, WINDOW_OVERLAP)
    if len(windows) == 1:
        unit_mel, history = _optimise(objective, initial, options.iterations, options, start, progress, on_step)
        return TransferResult(unit_mel.cpu().numpy(), history, time.perf_counter() - start)
    # Long clip: each window is optimised on its own content against the style's global Gram targets, and
    # neighbours are cross-faded, so memory is bounded by the window, not the clip.
    output, weight = torch.zeros_like(initial), torch.zeros(initial.shape[1], device=device)
    history, finals = [], []
    for lo, hi in tqdm(windows, desc="windows", unit="window", disable=not progress, leave=False):
        objective = Objective(backbone, content_t[:, lo:hi], style)
        piece, rows = _optimise(objective, initial[:, lo:hi].clone(), options.iterations, options, start, False)
        ramp = fade_weights(lo, hi, initial.shape[1], WINDOW_OVERLAP).to(device)
        output[:, lo:hi] += piece * ramp
        weight[lo:hi] += ramp
        history += [{**row, "step": len(history) + number} for number, row in enumerate(rows, start=1)]
        finals.append((hi - lo, rows[-1]))
    frames = sum(length for length, _ in finals)
    summary = {key: sum(length * row[key] for length, row in finals) / frames for key in ("total", "content", "style")}
    summary = {"step": len(history), **summary, "seconds": time.perf_counter() - start}
    return TransferResult((output / weight).cpu().numpy(), history, time.perf_counter() - start, summary)


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


def matched_transfer(
    content: np.ndarray,
    style: np.ndarray,
    content_f0: np.ndarray,
    style_f0: np.ndarray,
    targets: Mapping[str, GramTarget],
    backbone: Backbone,
    convention: MelConvention,
    options: TransferOptions,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> TransferResult:
    """``knn``: rebuild ``content`` from ``style``'s frames (:func:`~workflow_scripts.matching.feature_matching`),
    then optionally refine it for ``refine_steps`` with the Gatys objective whose content target is the matched mel.

    Args:
        content, style: unit-scale mels ``(n_mels, frames)``; the result has the content's shape.
        content_f0, style_f0: F0 per mel frame in Hz, NaN where unvoiced (the pipeline's ``pitch`` rule).
        targets: the style's Gram targets (reported losses, refinement).
        backbone: feature extractor (moved to ``device``).
        convention: the mels' convention.
        options: matching and optimiser settings.
        device: torch device.
        progress: show a tqdm bar on stderr while refining.

    Returns:
        The unit-scale mel and a history whose rows hold the Gatys objective against the *content* clip (so the
        losses compare with ``gatys`` runs): step 0 after matching, then one row per refinement step.
    """
    start = time.perf_counter()
    backbone = backbone.to(device)
    content_t = torch.as_tensor(content, dtype=torch.float32, device=device)
    style_t = torch.as_tensor(style, dtype=torch.float32, device=device)
    matched = feature_matching(content_t, style_t, content_f0, style_f0, backbone, convention, options)
    against_content = Objective(backbone, content_t, targets)
    history = [_row(0, against_content, matched, start)]
    if options.refine_steps > 0:
        refined, _ = _optimise(
            Objective(backbone, matched, targets), matched.clone(), options.refine_steps, options, start, progress
        )
        matched = follow_loudness(refined, content_t, style_t, options.loudness)
        history.append(_row(options.refine_steps, against_content, matched, start))
    return TransferResult(matched.cpu().numpy(), history, time.perf_counter() - start)


def _row(step: int, objective: Objective, unit_mel: torch.Tensor, start: float) -> dict[str, float]:
    with torch.no_grad():
        total, content, style = objective(unit_mel)
    return {"step": step, "total": float(total), "content": float(content), "style": float(style),
            "seconds": time.perf_counter() - start}  # fmt: skip


def _optimise(
    objective: Objective,
    initial: torch.Tensor,
    iterations: int,
    options: TransferOptions,
    start: float,
    progress: bool,
    on_step: Callable[[dict[str, float], torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Minimise ``objective`` from ``initial`` for up to ``iterations`` steps; the detached result and its history."""
    unit_mel = initial.requires_grad_(True)
    if options.optimizer == "lbfgs":
        optimizer = torch.optim.LBFGS(
            [unit_mel],
            lr=options.learning_rate,
            max_iter=1,
            # torch caps the line search at max_eval minus the evaluations already made; its default
            # (1.25 * max_iter = 1) would leave the search no evaluations at all.
            max_eval=1 + LINE_SEARCH_EVALUATIONS,
            history_size=options.history_size,
            line_search_fn="strong_wolfe",
            # Run the configured number of steps: the default tolerances stop early on small relative losses.
            tolerance_grad=0.0,
            tolerance_change=0.0,
        )
    elif options.optimizer == "adam":
        optimizer = torch.optim.Adam([unit_mel], lr=options.learning_rate)
    else:
        raise ValueError(f"unknown optimizer {options.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    # The losses at the last point the closure evaluated; the point a step accepts usually is that point.
    last: dict[str, torch.Tensor | tuple[torch.Tensor, ...]] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        losses = objective(unit_mel)
        losses[0].backward()
        last.update(point=unit_mel.detach().clone(), losses=tuple(loss.detach() for loss in losses))
        return losses[0]

    def losses_at_current_point() -> tuple[torch.Tensor, ...]:
        # Reusing the closure's values saves one forward pass per step.
        if torch.equal(last["point"], unit_mel):
            return last["losses"]
        with torch.no_grad():
            return objective(unit_mel)

    history = []
    best, stalled = float("inf"), 0
    bar = tqdm(range(iterations), desc="transfer", unit="step", disable=not progress, leave=False)
    for step in bar:
        optimizer.step(closure)
        total, content_value, style_value = losses_at_current_point()
        row = {
            "step": step + 1,
            "total": float(total),
            "content": float(content_value),
            "style": float(style_value),
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        bar.set_postfix(content=f"{row['content']:.3g}", style=f"{row['style']:.3g}")
        if on_step is not None:
            on_step(row, unit_mel.detach())
        if not np.isfinite(row["total"]):
            raise FloatingPointError(f"loss became {row['total']} at step {step + 1}; lower learning_rate")
        stalled = stalled + 1 if row["total"] >= best * (1.0 - options.tolerance) else 0
        best = min(best, row["total"])
        if options.tolerance > 0 and stalled >= options.patience:
            break
    return unit_mel.detach(), history
