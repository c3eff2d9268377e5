"""Rule vocode (transfer.batch_pairs > 0): every stylised mel of one style and backbone rendered by one vocoder in
one job, so the device's start-up, the model's load and the first calls' costs are paid once per style; each
pair's files go into the style's batch directory (rule vocode_output copies them to the pair's own paths)."""

import logging
import time
from pathlib import Path

from workflow_scripts.pipeline.options import OUTPUT_FORMATS
from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.transfer.device import job_device
from workflow_scripts.vocoders.registry import vocoder_from_params
from workflow_scripts.vocoders.rendering import render_file


def main() -> None:
    start = time.perf_counter()
    vocoder = vocoder_from_params(snakemake.params.vocoder, job_device(snakemake.params.device))
    logging.info("%s loaded on %s in %.1f s", snakemake.wildcards.vocoder, vocoder.device, time.perf_counter() - start)
    batch = Path(snakemake.output.batch)
    batch.mkdir(parents=True, exist_ok=True)
    contents = snakemake.params.contents
    subtype = OUTPUT_FORMATS[snakemake.params.output_format]
    for content, mel in zip(contents, snakemake.input.mels, strict=True):
        # each pair's seconds are its own rendering's (the first also pays the first calls); job_s is the batch's
        render_file(vocoder, mel, batch / f"{content}.wav", batch / f"{content}.json", time.perf_counter(), subtype,
                    {"batch": {"style": snakemake.wildcards.style, "pairs": len(contents)}})  # fmt: skip


run_step(snakemake, main)
