"""Rule vocode: render a stylised mel with one vocoder at its convention's sample rate."""

import logging
import time

import numpy as np

from workflow_scripts.artifacts import write_json
from workflow_scripts.audio_io import save_audio
from workflow_scripts.device import job_device
from workflow_scripts.options import OUTPUT_FORMATS
from workflow_scripts.runtime import job_usage, run_step
from workflow_scripts.vocoders import vocoder_from_params

# Peak ceiling of written audio: vocoders can overshoot full scale; quieter output is left as it is.
PEAK_CEILING = 0.999


def main() -> None:
    start = time.perf_counter()
    device = job_device(snakemake.params.device)
    vocoder = vocoder_from_params(snakemake.params.vocoder, device)
    audio = vocoder(np.load(snakemake.input.mel))
    peak = float(np.max(np.abs(audio)))
    if peak > PEAK_CEILING:
        audio = audio * (PEAK_CEILING / peak)
    save_audio(
        snakemake.output.wav, audio, vocoder.convention.sample_rate, OUTPUT_FORMATS[snakemake.params.output_format]
    )
    seconds = time.perf_counter() - start
    logging.info(
        "rendered %.2f s of audio in %.1f s on %s",
        len(audio) / vocoder.convention.sample_rate,
        seconds,
        device,
    )
    write_json(
        snakemake.output.summary, {"seconds": seconds, "device": str(device), "peak_before": peak, **job_usage()}
    )


run_step(snakemake, main)
