"""Rule mel: features of one clip in one mel convention, saved as float32 .npy (n_mels, frames)."""

from workflow_scripts.audio.audio_io import load_audio, save_array
from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    audio, sample_rate = load_audio(snakemake.input.wav)
    assert sample_rate == convention.sample_rate, (snakemake.input.wav, sample_rate)
    save_array(snakemake.output.mel, convention.features(audio[0]))


run_step(snakemake, main)
