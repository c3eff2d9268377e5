"""Rule evaluate: one metrics row per rendered output."""

import pandas as pd

from workflow_scripts.audio_io import atomic_path
from workflow_scripts.metrics import output_row, read_json
from workflow_scripts.runtime import run_step


def main() -> None:
    row = output_row(
        snakemake.wildcards,
        output_wav=snakemake.input.wav,
        content_wav=snakemake.input.content,
        style_wav=snakemake.input.style,
        stylised_mel=snakemake.input.stylised,
        transfer_summary=read_json(snakemake.input.transfer_summary),
        vocode_summary=read_json(snakemake.input.vocode_summary),
        transfer_benchmark=snakemake.input.transfer_benchmark,
        vocode_benchmark=snakemake.input.vocode_benchmark,
    )
    with atomic_path(snakemake.output.tsv) as tmp:
        pd.DataFrame([row]).to_csv(tmp, sep="\t", index=False)


run_step(snakemake, main)
