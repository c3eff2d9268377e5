"""Rule aggregate_metrics: all per-output rows in one table."""

from workflow_scripts.artifacts import atomic_path
from workflow_scripts.metrics_table import aggregate
from workflow_scripts.runtime import run_step


def main() -> None:
    with atomic_path(snakemake.output.tsv) as tmp:
        aggregate(snakemake.input.rows).to_csv(tmp, sep="\t", index=False)


run_step(snakemake, main)
