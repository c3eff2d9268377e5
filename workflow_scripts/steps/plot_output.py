"""Rule plot_output: content, style, stylised and rendered mels of one output in one PNG."""

import numpy as np

from workflow_scripts.conventions import get_convention
from workflow_scripts.metrics import decibels, read_output_audio
from workflow_scripts.plots import spectrogram_panels
from workflow_scripts.runtime import run_step


def main() -> None:
    convention = get_convention(snakemake.params.convention)
    audio, _ = read_output_audio(snakemake.input.wav)
    rendered = convention.features(np.nan_to_num(audio))
    w = snakemake.wildcards
    panels = [
        (f"content: {w.content}", np.load(snakemake.input.content)),
        (f"style: {w.style}", np.load(snakemake.input.style)),
        (f"stylised mel ({w.backbone})", np.load(snakemake.input.stylised)),
        (f"rendered audio, re-analysed ({w.vocoder})", rendered),
    ]
    spectrogram_panels(
        snakemake.output.png,
        [(label, decibels(features, convention)) for label, features in panels],
        convention.sample_rate / convention.hop_length,
        title=f"{w.content} in the style of {w.style}: {w.backbone} + {w.vocoder} ({convention.name} mel)",
    )


run_step(snakemake, main)
