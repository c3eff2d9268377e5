"""Rule vocode (one job per pair): render a stylised mel with one vocoder at its convention's sample rate."""

import time

from workflow_scripts.pipeline.options import OUTPUT_FORMATS
from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.transfer.device import job_device
from workflow_scripts.vocoders.registry import vocoder_from_params
from workflow_scripts.vocoders.rendering import render_file


def main() -> None:
    start = time.perf_counter()
    vocoder = vocoder_from_params(snakemake.params.vocoder, job_device(snakemake.params.device))
    render_file(
        vocoder,
        snakemake.input.mel,
        snakemake.output.wav,
        snakemake.output.summary,
        start,
        OUTPUT_FORMATS[snakemake.params.output_format],
    )


run_step(snakemake, main)
