"""Rule synthesize: render a built-in demo signal to WAV."""

from workflow_scripts.audio.audio_io import save_audio
from workflow_scripts.pipeline.demo_corpus import SAMPLE_RATE, SYNTHS
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    save_audio(snakemake.output.wav, SYNTHS[snakemake.params.synth](SAMPLE_RATE), SAMPLE_RATE)


run_step(snakemake, main)
