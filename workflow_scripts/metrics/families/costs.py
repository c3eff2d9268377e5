"""Costs family: the time and memory of the jobs that made the output (from their summaries) and of the evaluate
job itself, read when this family runs: last, after every other family (registry ``LAST``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workflow_scripts.metrics.registry import Column, Metric

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis


JOBS = ("transfer", "vocode", "evaluate")


def job_columns(job: str) -> tuple[Column, Column]:
    """A job's wall time from its process's start and its peak memory, shown among the report's checks."""
    return (
        Column(f"{job}_job_s", "s", "lower", f"{job} job", "checks"),
        Column(f"{job}_max_rss_mb", "MiB", "lower", f"{job} memory", "checks"),
    )


def measure(analysis: OutputAnalysis) -> dict[str, float]:
    from workflow_scripts.pipeline.runtime import job_usage

    usage = {"transfer": analysis.transfer_summary, "vocode": analysis.vocode_summary, "evaluate": job_usage()}
    return {
        "transfer_s": round(usage["transfer"]["seconds"], 3),
        "vocode_s": round(usage["vocode"]["seconds"], 3),
        **{f"{job}_{name}": usage[job][name] for job in JOBS for name in ("job_s", "max_rss_mb")},
        "evaluate_cpu_s": usage["evaluate"]["cpu_s"],
    }


METRIC = Metric(
    name="costs",
    summary="time and memory of the transfer, vocode and evaluate jobs",
    columns=(
        Column("transfer_s", "s", "lower"),
        Column("vocode_s", "s", "lower"),
        *(column for job in JOBS for column in job_columns(job)),
        Column("evaluate_cpu_s", "s", "lower"),
    ),
    measure=measure,
)
