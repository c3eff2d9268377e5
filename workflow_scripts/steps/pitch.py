"""Rule pitch: F0 (Hz, NaN where unvoiced) at the centre of every mel frame of one convention, float32 .npy."""

import logging

import numpy as np

from workflow_scripts.audio.audio_io import load_audio, save_array
from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.audio.pitch import f0_track
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    audio, sample_rate = load_audio(snakemake.input.wav)
    times = convention.frame_times(convention.frames_for(audio.shape[-1]))
    f0, _ = f0_track(audio[0], sample_rate, times)
    logging.info("%d frames, %.0f %% voiced", len(f0), 100.0 * np.mean(np.isfinite(f0)))
    save_array(snakemake.output.f0, f0)


run_step(snakemake, main)
