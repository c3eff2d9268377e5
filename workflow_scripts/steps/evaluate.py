"""Rule evaluate: one metrics row per rendered output."""

import pandas as pd

from workflow_scripts.audio_io import atomic_path
from workflow_scripts.metrics import output_row, read_json
from workflow_scripts.runtime import run_step


def main() -> None:
    row = output_row(
        snakemake.wildcards,
        snakemake.input.wav,
        snakemake.input.content,
        read_json(snakemake.input.transfer_summary),
        read_json(snakemake.input.vocode_summary),
    )
    with atomic_path(snakemake.output.tsv) as tmp:
        pd.DataFrame([row]).to_csv(tmp, sep="\t", index=False)


run_step(snakemake, main)
