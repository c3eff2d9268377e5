"""Several independent optimisations run side by side, each with its own optimiser, sharing objective evaluations.

L-BFGS on the sum of independent problems is not L-BFGS on each of them: one memory of curvature pairs and one
line search would couple problems that have nothing to do with each other, and one problem's early stop would
stop them all. So every problem keeps its own ``torch.optim`` optimiser (state, line search, stopping rule), run
unchanged in a thread of its own, and only the evaluations of the objective are shared: a problem's closure hands
its point to :class:`_Rounds` and waits. A round starts once every running problem is waiting (or has finished),
then one batched evaluation answers them all. Which problems share a round therefore depends on the problems
alone, never on thread timing, so a batched run is as reproducible as a single one.

The optimisers' own work (L-BFGS's two-loop recursion and line-search logic) stays per problem and runs on the
host in turn; on a GPU that bounds what batching can gain (docs/gpu.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch
from tqdm import tqdm

Result = TypeVar("Result")
# What an optimiser needs of its objective at a point: the losses ``(total, content, style)`` stacked into one
# tensor, and the gradient of the total when it was asked for.
Evaluation = tuple[torch.Tensor, torch.Tensor | None]
Evaluate = Callable[[torch.Tensor, bool], Evaluation]
# Many problems' evaluations at once: {problem index: (point, gradient wanted)} -> {problem index: Evaluation}.
EvaluateMany = Callable[[Mapping[int, tuple[torch.Tensor, bool]]], Mapping[int, Evaluation]]


def optimise_together(
    evaluate_many: EvaluateMany, problems: Sequence[Callable[[Evaluate], Result]], progress: bool = False
) -> list[Result]:
    """Run every ``problems[i](evaluate)`` in its own thread; their calls of ``evaluate`` are answered in rounds by
    ``evaluate_many`` (in the calling thread). Returns their results in order; the first exception is re-raised
    once every problem has stopped."""
    rounds = _Rounds(evaluate_many, len(problems))
    results: list[Any] = [None] * len(problems)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = problems[index](lambda point, gradient: rounds.evaluate(index, point, gradient))
        except BaseException as error:  # handed to the calling thread
            errors.append(error)
        finally:
            rounds.finished(index)

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(len(problems))]
    for thread in threads:
        thread.start()
    rounds.serve(progress)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


class _Rounds:
    """Collects one request from every running problem, then answers them all with one batched evaluation."""

    def __init__(self, evaluate_many: EvaluateMany, count: int) -> None:
        self._evaluate_many = evaluate_many
        self._condition = threading.Condition()
        self._running = set(range(count))
        self._requests: dict[int, tuple[torch.Tensor, bool]] = {}
        self._answers: dict[int, Any] = {}

    def evaluate(self, index: int, point: torch.Tensor, gradient: bool) -> Any:
        """Called by problem ``index``'s thread: wait for this round's answer to its request."""
        with self._condition:
            self._requests[index] = (point, gradient)
            self._condition.notify_all()
            self._condition.wait_for(lambda: index in self._answers)
            answer = self._answers.pop(index)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def finished(self, index: int) -> None:
        with self._condition:
            self._running.discard(index)
            self._condition.notify_all()

    def serve(self, progress: bool) -> None:
        """Answer rounds until every problem has finished."""
        with tqdm(desc="batched evaluations", unit="round", disable=not progress, leave=False) as bar:
            while True:
                with self._condition:
                    self._condition.wait_for(lambda: len(self._requests) == len(self._running))
                    if not self._running:
                        return
                    requests, self._requests = self._requests, {}
                try:
                    answers = dict(self._evaluate_many(requests))
                except BaseException as error:  # every waiting problem stops with it
                    answers = dict.fromkeys(requests, error)
                with self._condition:
                    self._answers.update(answers)
                    self._condition.notify_all()
                bar.update()
