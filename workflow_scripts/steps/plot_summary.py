"""Rule plot_summary: style match against content preservation for every output of the corpus."""

from workflow_scripts.metrics.metrics_table import read_table
from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.report.plots import summary_scatter


def main() -> None:
    summary_scatter(snakemake.output.png, read_table(snakemake.input.metrics))


run_step(snakemake, main)
