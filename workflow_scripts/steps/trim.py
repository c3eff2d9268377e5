"""Rule trim: cut leading and trailing silence (channels and sample rate unchanged)."""

import logging

from workflow_scripts.audio.audio_io import load_audio, save_audio
from workflow_scripts.audio.vad import trim
from workflow_scripts.pipeline.options import TrimSettings
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    source = snakemake.input.audio
    audio, sample_rate = load_audio(source)
    trimmed = trim(audio, sample_rate, TrimSettings(**snakemake.params.trim), source)
    logging.info("%s: kept %.2f of %.2f s", source, trimmed.shape[-1] / sample_rate, audio.shape[-1] / sample_rate)
    save_audio(snakemake.output.wav, trimmed, sample_rate)


run_step(snakemake, main)
