"""Rule mel: features of one clip in one mel convention, saved as float32 .npy (n_mels, frames)."""

from workflow_scripts.audio_io import load_audio, save_array
from workflow_scripts.conventions import get_convention
from workflow_scripts.errors import InputError
from workflow_scripts.runtime import run_step


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    audio, sample_rate = load_audio(snakemake.input.wav)
    assert sample_rate == convention.sample_rate, (snakemake.input.wav, sample_rate)
    if audio.shape[-1] < convention.n_fft:
        raise InputError(
            f"{snakemake.input.wav}: {audio.shape[-1] / sample_rate * 1000:.0f} ms after trimming is shorter than "
            f"one analysis window ({convention.n_fft / sample_rate * 1000:.0f} ms); use a longer clip or vad: none"
        )
    save_array(snakemake.output.mel, convention.features(audio[0]))


run_step(snakemake, main)
