"""Style transfer of a unit-scale mel: Gatys-style optimisation (``gatys``) or feature matching (``knn``).

``gatys`` optimises the mel so that its backbone features match the content's and their Gram matrices the
style's. ``knn`` rebuilds every content frame from its nearest style frames (:mod:`workflow_scripts.transfer.matching`)
and can then refine the result with the same objective. Both also come in a batched form for several contents in the
style of one clip (:func:`style_transfer_batch`, :func:`matched_transfer_batch`): the same per-content results,
computed together (:mod:`workflow_scripts.transfer.batching`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.audio.conventions import MelConvention
from workflow_scripts.pipeline.options import INITS, OPTIMIZERS, TransferOptions
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.batching import Evaluate, EvaluateMany, Evaluation, optimise_together
from workflow_scripts.transfer.lbfgs import DeviceLBFGS
from workflow_scripts.transfer.losses import GramTarget, content_loss
from workflow_scripts.transfer.matching import feature_matching, follow_loudness, style_dictionary
from workflow_scripts.transfer.precision import FeatureExtractor, Maps
from workflow_scripts.transfer.style_statistics import style_targets

LINE_SEARCH_EVALUATIONS = 25
# Steps between two reads of the losses by ``lbfgs_device`` when it may stop early: one host synchronisation per
# this many steps instead of one per step.
CHECK_EVERY = 10
# Frames cross-faded between neighbouring windows of a long clip (gatys, ``window_frames``).
WINDOW_OVERLAP = 64

OnStep = Callable[[dict[str, float], torch.Tensor], None]


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
            :func:`workflow_scripts.transfer.style_statistics.style_targets`), on any device: they are moved to the
            content's.
        features: how the backbone's maps are computed (precision, compilation); default float32, eager.
    """

    def __init__(
        self,
        backbone: Backbone,
        content: torch.Tensor,
        style_targets: Mapping[str, GramTarget],
        features: FeatureExtractor | None = None,
    ) -> None:
        self.backbone = backbone
        self.features = features or FeatureExtractor(backbone)
        with torch.no_grad():
            content_maps = self.features(content)
        self.content_targets = {name: content_maps[name] for name in backbone.content_layers}
        self.style_targets = {name: style_targets[name].to(content.device) for name in backbone.style_layers}

    def __call__(self, unit_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, content, style)`` losses of ``unit_mel`` ``(n_mels, frames)``."""
        return self.losses(self.features(unit_mel))

    def losses(self, maps: Maps) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, content, style)`` losses of a mel with feature ``maps``."""
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


def evaluator(objective: Objective) -> Evaluate:
    """:data:`Evaluate` for one objective, evaluated on its own."""

    def evaluate(point: torch.Tensor, gradient: bool) -> Evaluation:
        if not gradient:
            with torch.no_grad():
                return torch.stack(objective(point)), None
        point = point.detach().requires_grad_(True)
        losses = objective(point)
        (grad,) = torch.autograd.grad(losses[0], point)
        return torch.stack(losses).detach(), grad

    return evaluate


def batch_evaluator(objectives: Sequence[Objective], features: FeatureExtractor) -> EvaluateMany:
    """Evaluates several objectives of one backbone at once: one batched forward pass (:meth:`FeatureExtractor.many`)
    and one backward pass of the summed totals, whose gradient with respect to each point is that point's own
    total's, the problems being independent. Takes and returns ``{problem index: ...}``."""

    def evaluate(requests: Mapping[int, tuple[torch.Tensor, bool]]) -> dict[int, Evaluation]:
        indices = sorted(requests)
        points = [requests[i][0].detach().requires_grad_(requests[i][1]) for i in indices]
        with torch.enable_grad():
            losses = [objectives[i].losses(maps) for i, maps in zip(indices, features.many(points), strict=True)]
            wanted = [(point, loss[0]) for point, loss in zip(points, losses, strict=True) if point.requires_grad]
            grads = iter(torch.autograd.grad(sum(t for _, t in wanted), [p for p, _ in wanted]) if wanted else ())
        return {i: (torch.stack(loss).detach(), next(grads) if point.requires_grad else None)
                for i, point, loss in zip(indices, points, losses, strict=True)}  # fmt: skip

    return evaluate


def style_transfer(
    content: np.ndarray,
    style: np.ndarray | Mapping[str, GramTarget],
    backbone: Backbone,
    options: TransferOptions,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_step: OnStep | None = None,
) -> TransferResult:
    """``gatys``: optimise a unit-scale mel with ``content``'s features and ``style``'s Gram statistics.

    Args:
        content: unit-scale content mel ``(n_mels, frames)``; the result has the same shape.
        style: unit-scale style mel ``(n_mels, style_frames)`` of any length, or its precomputed Gram targets
            (:func:`workflow_scripts.transfer.style_statistics.style_targets`, as the pipeline's ``style_stats``
            rule stores).
        backbone: feature extractor (moved to ``device``).
        options: optimiser settings (``iterations`` steps from ``init``; ``precision``, ``compile``).
        device: torch device to optimise on.
        progress: show a tqdm bar on stderr.
        on_step: called after every step with its history row and the current unit-scale mel (detached; copy it
            to keep it), e.g. to keep snapshots of the trajectory. Clips longer than one window do not call it.

    Returns:
        The optimised unit-scale mel, the loss history (one row per step) and the wall time.
    """
    start = time.perf_counter()
    backbone = backbone.to(device)
    features = FeatureExtractor(backbone, options.precision, options.compile)
    content_t = torch.as_tensor(content, dtype=torch.float32, device=device)
    if not isinstance(style, Mapping):
        style = style_targets(backbone, torch.as_tensor(style, dtype=torch.float32, device=device))
    windows = time_windows(content_t.shape[1], options.window_frames, WINDOW_OVERLAP)
    initial = initial_mel(content_t, options)
    if len(windows) == 1:
        objective = Objective(backbone, content_t, style, features)
        unit_mel, history = _optimise(evaluator(objective), initial, options.iterations, options, start, progress,
                                      on_step)  # fmt: skip
        return TransferResult(unit_mel.cpu().numpy(), history, time.perf_counter() - start)
    # Long clip: each window is optimised on its own content against the style's global Gram targets, and
    # neighbours are cross-faded, so memory is bounded by the window, not the clip.
    pieces = []
    for lo, hi in tqdm(windows, desc="windows", unit="window", disable=not progress, leave=False):
        objective = Objective(backbone, content_t[:, lo:hi], style, features)
        pieces.append(_optimise(evaluator(objective), initial[:, lo:hi], options.iterations, options, start, False))
    return _cross_fade(windows, pieces, start)


def style_transfer_batch(
    contents: Sequence[np.ndarray],
    style: Mapping[str, GramTarget],
    backbone: Backbone,
    options: TransferOptions,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[TransferResult]:
    """:func:`style_transfer` of several contents in the style of one, ``options.batch_pairs`` optimisation problems
    (whole clips, or windows of clips longer than ``window_frames``) at a time.

    Each problem keeps its own optimiser (its L-BFGS memory and line search, its early stop), so each result is the
    one :func:`style_transfer` gives, up to the rounding of batched products; only the evaluations of the objective
    are shared (:func:`workflow_scripts.transfer.batching.optimise_together`). Every result's ``seconds`` is the
    batch's.
    """
    start = time.perf_counter()
    backbone = backbone.to(device)
    features = FeatureExtractor(backbone, options.precision, options.compile)
    content_ts = [torch.as_tensor(content, dtype=torch.float32, device=device) for content in contents]
    windows = [time_windows(c.shape[1], options.window_frames, WINDOW_OVERLAP) for c in content_ts]
    problems = [(index, lo, hi) for index, clip_windows in enumerate(windows) for lo, hi in clip_windows]
    initials = [initial_mel(content_t, options) for content_t in content_ts]
    objectives = [Objective(backbone, content_ts[i][:, lo:hi], style, features) for i, lo, hi in problems]
    starts = [initials[i][:, lo:hi] for i, lo, hi in problems]
    solved = _optimise_batch(objectives, features, starts, options.iterations, options, start, progress)
    results, first = [], 0
    for clip_windows in windows:
        pieces = solved[first : first + len(clip_windows)]
        first += len(clip_windows)
        if len(clip_windows) == 1:
            (unit_mel, history), = pieces  # fmt: skip
            results.append(TransferResult(unit_mel.cpu().numpy(), history, 0.0))
        else:
            results.append(_cross_fade(clip_windows, pieces, start))
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


def _cross_fade(
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
    """``knn``: rebuild ``content`` from ``style``'s frames
    (:func:`~workflow_scripts.transfer.matching.feature_matching`),
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
    (result,) = matched_transfer_batch([content], [content_f0], style, style_f0, targets, backbone, convention,
                                       options, device, progress)  # fmt: skip
    return result


def matched_transfer_batch(
    contents: Sequence[np.ndarray],
    content_f0s: Sequence[np.ndarray],
    style: np.ndarray,
    style_f0: np.ndarray,
    targets: Mapping[str, GramTarget],
    backbone: Backbone,
    convention: MelConvention,
    options: TransferOptions,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[TransferResult]:
    """:func:`matched_transfer` of several contents in the style of one: the style's pitch-shifted dictionary and
    its features are computed once, and refinements (``refine_steps``) run side by side as in
    :func:`style_transfer_batch`. Every result's ``seconds`` is the batch's."""
    start = time.perf_counter()
    backbone = backbone.to(device)
    features = FeatureExtractor(backbone, options.precision, options.compile)
    style_t = torch.as_tensor(style, dtype=torch.float32, device=device)
    dictionary = style_dictionary(style_t, style_f0, backbone, convention, options, options.precision)
    content_ts = [torch.as_tensor(content, dtype=torch.float32, device=device) for content in contents]
    matched = [feature_matching(content_t, style_t, content_f0, style_f0, backbone, convention, options,
                                options.precision, dictionary)
               for content_t, content_f0 in zip(content_ts, content_f0s, strict=True)]  # fmt: skip
    histories = [[_reported_row(0, backbone, content_t, mel, targets, features, options, start)]
                 for content_t, mel in zip(content_ts, matched, strict=True)]  # fmt: skip
    if options.refine_steps > 0:
        objectives = [Objective(backbone, mel, targets, features) for mel in matched]
        refined = _optimise_batch(objectives, features, matched, options.refine_steps, options, start, progress)
        matched = [follow_loudness(mel, content_t, style_t, options.loudness, options.quiet_db)
                   for (mel, _), content_t in zip(refined, content_ts, strict=True)]  # fmt: skip
        for history, content_t, mel in zip(histories, content_ts, matched, strict=True):
            history.append(_reported_row(options.refine_steps, backbone, content_t, mel, targets, features, options,
                                         start))  # fmt: skip
    seconds = time.perf_counter() - start
    return [TransferResult(mel.cpu().numpy(), rows, seconds) for mel, rows in zip(matched, histories, strict=True)]


def _reported_row(
    step: int,
    backbone: Backbone,
    content: torch.Tensor,
    unit_mel: torch.Tensor,
    targets: Mapping[str, GramTarget],
    features: FeatureExtractor,
    options: TransferOptions,
    start: float,
) -> dict[str, float]:
    """The Gatys losses of ``unit_mel`` against ``content`` and the style, reported for a knn result. A clip longer
    than ``window_frames`` is measured window by window (as ``gatys`` optimises it, :func:`frame_weighted`): the
    feature maps of a whole hour would take gigabytes."""
    windows = time_windows(content.shape[1], options.window_frames, WINDOW_OVERLAP)
    rows = [(hi - lo, _row(step, Objective(backbone, content[:, lo:hi], targets, features), unit_mel[:, lo:hi], start))
            for lo, hi in windows]  # fmt: skip
    if len(rows) == 1:
        return rows[0][1]
    return {"step": step, **frame_weighted(rows), "seconds": time.perf_counter() - start}


def _row(step: int, objective: Objective, unit_mel: torch.Tensor, start: float) -> dict[str, float]:
    with torch.no_grad():
        total, content, style = torch.stack(objective(unit_mel)).tolist()
    return {"step": step, "total": total, "content": content, "style": style, "seconds": time.perf_counter() - start}


def _optimise_batch(
    objectives: Sequence[Objective],
    features: FeatureExtractor,
    initials: Sequence[torch.Tensor],
    iterations: int,
    options: TransferOptions,
    start: float,
    progress: bool,
) -> list[tuple[torch.Tensor, list[dict[str, float]]]]:
    """:func:`_optimise` of every problem, ``options.batch_pairs`` at a time (all at once when 0), their objective
    evaluations shared (:func:`workflow_scripts.transfer.batching.optimise_together`)."""
    if len(objectives) == 1:  # nothing to share: no threads
        return [_optimise(evaluator(objectives[0]), initials[0], iterations, options, start, progress)]
    size = options.batch_pairs or len(objectives)
    solved = []
    for first in range(0, len(objectives), size):
        chunk = range(first, min(first + size, len(objectives)))
        evaluate_many = batch_evaluator([objectives[i] for i in chunk], features)
        solved += optimise_together(
            evaluate_many,
            [lambda evaluate, i=i: _optimise(evaluate, initials[i], iterations, options, start, False)
             for i in chunk],
            progress,
        )  # fmt: skip
    return solved


def _optimiser(unit_mel: torch.Tensor, options: TransferOptions) -> torch.optim.Optimizer:
    if options.optimizer == "lbfgs":
        return torch.optim.LBFGS(
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
    if options.optimizer == "adam":
        return torch.optim.Adam([unit_mel], lr=options.learning_rate)
    raise ValueError(f"unknown optimizer {options.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")


Stepper = tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]


def _stepper(evaluate: Evaluate, initial: torch.Tensor, options: TransferOptions) -> Stepper:
    """``(step, current)``: ``step()`` takes one optimiser step and returns the stacked losses at the point it
    reached (on the device), ``current()`` that point (detached)."""
    if options.optimizer == "lbfgs_device":
        device_lbfgs = DeviceLBFGS(evaluate, initial, options.history_size, options.learning_rate)
        return device_lbfgs.step, lambda: device_lbfgs.current
    unit_mel = initial.detach().clone().requires_grad_(True)
    optimizer = _optimiser(unit_mel, options)
    # The losses at the last point the closure evaluated; the point an L-BFGS step accepts usually is that point
    # (an Adam step never is: it moves after evaluating).
    last: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        losses, grad = evaluate(unit_mel.detach(), True)
        unit_mel.grad = grad
        last.update(point=unit_mel.detach().clone(), losses=losses)
        return losses[0]

    def step() -> torch.Tensor:
        optimizer.step(closure)
        # Reusing the closure's values saves one forward pass per step.
        if options.optimizer == "lbfgs" and torch.equal(last["point"], unit_mel):
            return last["losses"]
        return evaluate(unit_mel.detach(), False)[0]

    return step, unit_mel.detach


def _optimise(
    evaluate: Evaluate,
    initial: torch.Tensor,
    iterations: int,
    options: TransferOptions,
    start: float,
    progress: bool,
    on_step: OnStep | None = None,
) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Minimise from ``initial`` for up to ``iterations`` steps; the detached result and its history.

    The losses of every step stay on the device and are read back once, at the end, unless something needs them
    sooner: early stopping (``tolerance > 0``) reads them every step (``lbfgs``, ``adam``) or every
    :data:`CHECK_EVERY` steps (``lbfgs_device``, which then may run up to ``CHECK_EVERY - 1`` steps past the step
    the rule stops at; they are in the history), and ``on_step`` every step. (``lbfgs`` reads every loss it
    evaluates in its line search anyway; ``adam`` and ``lbfgs_device`` otherwise run without waiting for the
    device.)
    """
    step_once, current = _stepper(evaluate, initial, options)
    check_every = CHECK_EVERY if options.optimizer == "lbfgs_device" else 1
    steps: list[torch.Tensor] = []
    seconds: list[float] = []
    best, stalled, read = float("inf"), 0, 0
    bar = tqdm(range(iterations), desc="transfer", unit="step", disable=not progress, leave=False)
    for step in bar:
        steps.append(step_once())
        seconds.append(time.perf_counter() - start)
        if on_step is None and (options.tolerance <= 0 or (step + 1) % check_every):
            continue
        rows = _history(steps[read:], seconds[read:], first=read + 1)
        read = len(steps)
        bar.set_postfix(content=f"{rows[-1]['content']:.3g}", style=f"{rows[-1]['style']:.3g}", refresh=False)
        if on_step is not None:
            on_step(rows[-1], current())
        stop = False
        for row in rows:
            _check_finite(row["total"], row["step"])
            stalled = stalled + 1 if row["total"] >= best * (1.0 - options.tolerance) else 0
            best = min(best, row["total"])
            stop = stop or (options.tolerance > 0 and stalled >= options.patience)
        if stop:
            break
    history = _history(steps, seconds)
    for row in history:
        _check_finite(row["total"], row["step"])
    return current().clone(), history


def _history(steps: Sequence[torch.Tensor], seconds: Sequence[float], first: int = 1) -> list[dict[str, float]]:
    """History rows of consecutive steps from their stacked losses: one transfer from the device for all of them."""
    values = torch.stack(list(steps)).tolist()
    return [{"step": first + index, "total": total, "content": content, "style": style, "seconds": elapsed}
            for index, ((total, content, style), elapsed) in enumerate(zip(values, seconds, strict=True))]  # fmt: skip


def _check_finite(total: float, step: int) -> None:
    if not np.isfinite(total):
        raise FloatingPointError(f"loss became {total} at step {step}; lower learning_rate")
