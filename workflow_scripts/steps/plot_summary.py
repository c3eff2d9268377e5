"""Rule plot_summary: style match against content preservation for every output of the corpus."""

import pandas as pd

from workflow_scripts.plots import summary_scatter
from workflow_scripts.runtime import run_step


def main() -> None:
    summary_scatter(snakemake.output.png, pd.read_csv(snakemake.input.metrics, sep="\t"))


run_step(snakemake, main)
