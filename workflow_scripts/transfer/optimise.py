"""Minimising an objective from a starting mel: ``torch.optim`` L-BFGS or Adam, or the device L-BFGS
(:mod:`workflow_scripts.transfer.lbfgs`), with early stopping; for one problem (:func:`optimise`) or for several
side by side (:func:`optimise_batch`: each keeps its own optimiser, their evaluations shared,
:mod:`workflow_scripts.transfer.batching`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.pipeline.options import OPTIMIZERS, TransferOptions
from workflow_scripts.transfer.batching import Evaluate, optimise_together
from workflow_scripts.transfer.lbfgs import DeviceLBFGS
from workflow_scripts.transfer.objective import Objective, batch_evaluator, evaluator
from workflow_scripts.transfer.precision import FeatureExtractor

LINE_SEARCH_EVALUATIONS = 25
# Steps between two reads of the losses by ``lbfgs_device`` when it may stop early: one host synchronisation per
# this many steps instead of one per step.
CHECK_EVERY = 10

OnStep = Callable[[dict[str, float], torch.Tensor], None]
# A solved problem: the detached result and its history (one row per step).
Solved = tuple[torch.Tensor, list[dict[str, float]]]


def optimise_batch(
    objectives: Sequence[Objective],
    features: FeatureExtractor,
    initials: Sequence[torch.Tensor],
    iterations: int,
    options: TransferOptions,
    start: float,
    progress: bool,
    on_step: OnStep | None = None,
) -> list[Solved]:
    """:func:`optimise` of every problem, ``options.batch_pairs`` at a time, their objective evaluations shared
    (:func:`workflow_scripts.transfer.batching.optimise_together`); one at a time when ``batch_pairs`` is 0 (a job
    per pair: a long clip's windows then take one window's memory). ``on_step`` is called for a lone problem only.
    """
    if len(objectives) == 1:  # nothing to share: no threads
        return [optimise(evaluator(objectives[0]), initials[0], iterations, options, start, progress, on_step)]
    size = options.batch_pairs or 1
    solved = []
    for first in tqdm(range(0, len(objectives), size), desc="problems", disable=not progress or size > 1, leave=False):
        chunk = range(first, min(first + size, len(objectives)))
        if size == 1:
            solved.append(optimise(evaluator(objectives[first]), initials[first], iterations, options, start, False))
            continue
        evaluate_many = batch_evaluator([objectives[i] for i in chunk], features)
        solved += optimise_together(
            evaluate_many,
            [lambda evaluate, i=i: optimise(evaluate, initials[i], iterations, options, start, False)
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


def optimise(
    evaluate: Evaluate,
    initial: torch.Tensor,
    iterations: int,
    options: TransferOptions,
    start: float,
    progress: bool,
    on_step: OnStep | None = None,
) -> Solved:
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
