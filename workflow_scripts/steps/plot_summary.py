"""Rule plot_summary: style match against content preservation for every output of the corpus."""

from workflow_scripts.metrics_table import read_table
from workflow_scripts.plots import summary_scatter
from workflow_scripts.runtime import run_step


def main() -> None:
    summary_scatter(snakemake.output.png, read_table(snakemake.input.metrics))


run_step(snakemake, main)
