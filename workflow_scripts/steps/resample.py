"""Rule resample: mono mix-down, resampling to a convention's rate, level normalisation."""

from workflow_scripts.audio.audio_io import load_audio, normalise, resample, save_audio, to_mono
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    audio, sample_rate = load_audio(snakemake.input.wav)
    target_rate = int(snakemake.wildcards.rate)
    mono = resample(to_mono(audio), sample_rate, target_rate)
    level = snakemake.params.normalise
    save_audio(
        snakemake.output.wav,
        normalise(mono, level["mode"], level["target_db"], snakemake.input.wav),
        target_rate,
    )


run_step(snakemake, main)
