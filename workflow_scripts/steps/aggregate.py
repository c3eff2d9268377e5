"""Rule aggregate_metrics: all per-output rows in one table, with the configuration's hash and the code's commit."""

from workflow_scripts.metrics.metrics_table import aggregate
from workflow_scripts.pipeline.artifacts import atomic_path
from workflow_scripts.pipeline.provenance import git_commit
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    table = aggregate(snakemake.input.rows, config_hash=snakemake.params.config_hash, commit=git_commit())
    with atomic_path(snakemake.output.tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)


run_step(snakemake, main)
