"""`make bench optimiser`: what one optimiser step costs beside the objective, counted on any machine.

A GPU runs behind the host; a step that reads a value back (``.item()``, ``float(tensor)``, ``if tensor:``) waits
for every kernel queued before it, and every small operation is a kernel launch of its own. Both are counted here
with ``torch.profiler`` on whatever device is at hand (the counts do not depend on it): per step, the objective
evaluations, the aten operations (all, and those of the optimiser alone: all minus the evaluations' own), the
leaf operations (the ones that launch kernels) and the host synchronisations: ``aten::_local_scalar_dense``
(what ``.item()``, ``float()`` and ``bool()`` of a tensor go through), ``aten::equal`` (a bool read back from a GPU)
and calls of ``Tensor.tolist`` (a copy to the host on a GPU; on the CPU it bypasses the dispatcher, so it is
counted by wrapping it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.backbones import unit_mel
from benchmarks.common import print_table, source_of
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.transfer.backbones import RandomCNN
from workflow_scripts.transfer.objective import Objective, evaluator
from workflow_scripts.transfer.optimise import optimise
from workflow_scripts.transfer.style_statistics import style_targets

SYNCS = ("aten::_local_scalar_dense", "aten::equal")
# Operations that launch no kernel: views, allocations, metadata.
NO_KERNEL = frozenset(
    "aten::" + name
    for name in (
        "as_strided view reshape _reshape_alias expand slice select narrow transpose t permute unsqueeze squeeze "
        "detach alias resolve_conj resolve_neg empty empty_strided empty_like resize_ as_strided_ lift_fresh "
        "result_type _local_scalar_dense item is_nonzero equal size stride numel dim split chunk unbind diagonal "
        "flatten unflatten to _to_copy contiguous clone lift"
    ).split()
)
SECONDS, WARM_STEPS, STEPS = 0.5, 50, 10


def count_ops(function: Callable[[], Any]) -> dict[str, int]:
    """Aten operations run by ``function()``: all of them, those that launch a kernel (CUDA kernels counted by the
    profiler on a GPU; on the CPU, the innermost operations that are not views or allocations), and the host
    synchronisations."""
    tolist, reads = torch.Tensor.tolist, []

    def counted_tolist(tensor: torch.Tensor) -> Any:
        reads.append(1)
        return tolist(tensor)

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    torch.Tensor.tolist = counted_tolist
    try:
        with profile(activities=activities) as prof:
            function()
    finally:
        torch.Tensor.tolist = tolist
    events = [event for event in prof.events() if event.name.startswith("aten::")]
    if cuda:
        kernels = sum(len(event.kernels) for event in prof.events())
    else:
        kernels = sum(_launches(event) for event in events if event.cpu_parent is None
                      or not event.cpu_parent.name.startswith("aten::"))  # fmt: skip
    syncs = sum(event.name in SYNCS for event in events) + len(reads)
    return {"ops": len(events), "kernels": kernels, "syncs": syncs}


def _launches(event: Any) -> int:
    """Kernel-launching operations in an operation's tree: the innermost ones that are not :data:`NO_KERNEL`."""
    inner = sum(_launches(child) for child in event.cpu_children if child.name.startswith("aten::"))
    return inner or int(event.name not in NO_KERNEL)


def step_costs(objective: Objective, initial: torch.Tensor, options: TransferOptions) -> dict[str, Any]:
    """Per-step counts of ``options.optimizer`` in its steady state (its memory full): the counts of
    ``WARM_STEPS + STEPS`` steps less those of ``WARM_STEPS``, per step; and the optimiser's own share beside its
    evaluations of the objective."""
    evaluate, calls = evaluator(objective), []

    def counted(point: torch.Tensor, gradient: bool) -> Any:
        calls.append(gradient)
        return evaluate(point, gradient)

    def steps(count: int) -> dict[str, int]:
        calls.clear()
        counts = count_ops(lambda: optimise(counted, initial, count, options, time.perf_counter(), False))
        return {**counts, "evaluations": len(calls)}

    one = count_ops(lambda: evaluate(initial, True))
    warm, longer = steps(WARM_STEPS), steps(WARM_STEPS + STEPS)
    per_step = {name: (longer[name] - warm[name]) / STEPS for name in longer}
    evaluations = per_step["evaluations"]
    return {
        "optimizer": options.optimizer,
        "early stopping": "on" if options.tolerance > 0 else "off",
        "evaluations / step": evaluations,
        "ops / step": per_step["ops"],
        "kernels / step": per_step["kernels"],
        "optimiser's own kernels / step": per_step["kernels"] - evaluations * one["kernels"],
        "host syncs / step": per_step["syncs"],
    }


def rows(seconds: float = SECONDS) -> list[dict[str, Any]]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    content, style = unit_mel("content2", seconds).to(device), unit_mel("style2", seconds).to(device)
    backbone = RandomCNN(RandomCNN.Options(), HIFIGAN.n_mels).to(device)
    objective = Objective(backbone, content, style_targets(backbone, style))
    table = []
    # torch's LBFGS synchronises in its line search whatever the early stopping: one row is enough
    default = TransferOptions.tolerance
    for optimizer, tolerance in (("lbfgs", default), ("lbfgs_device", default), ("lbfgs_device", 0.0)):
        options = TransferOptions(method="gatys", optimizer=optimizer, tolerance=tolerance, patience=10**6)
        table.append(step_costs(objective, content, options))
    return table


def run() -> None:
    print_table(
        f"Optimiser: cost of a step, random_cnn, {SECONDS:g} s clip ({source_of('content2')}), history 50, steps "
        f"{WARM_STEPS + 1}-{WARM_STEPS + STEPS} from the content, counted with torch.profiler "
        f"({'CUDA kernels' if torch.cuda.is_available() else 'CPU: kernel-launching aten operations'}; early "
        "stopping checks without stopping)",
        rows(),
    )
