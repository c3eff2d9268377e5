"""Record family: what the row is (the transfer method, the vocoder's mel convention, the clips' kinds) and what the
transfer reported of itself (its final losses and steps), from the transfer job's summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis


def measure(analysis: OutputAnalysis) -> dict[str, Any]:
    summary = analysis.transfer_summary
    return {
        "method": summary.get("method", "gatys"),
        "convention": summary["convention"],
        "content_kind": analysis.kinds["content"],
        "style_kind": analysis.kinds["style"],
        "content_loss": summary["final"]["content"],
        "style_loss": summary["final"]["style"],
        "steps": summary["final"]["step"],
    }


METRIC = Metric(
    name="record",
    summary="method, convention, clip kinds; the transfer's own losses and steps",
    columns=(
        Column("method", "", "", "method", "checks"),
        Column("convention", ""),
        Column("content_kind", ""),
        Column("style_kind", ""),
        Column("content_loss", "0..inf", "lower", "content loss", "checks"),
        Column("style_loss", "0..inf", "lower", "style loss", "checks"),
        Column("steps", ""),
    ),
    measure=measure,
)
