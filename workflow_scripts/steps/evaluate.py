"""Rule evaluate: the metrics row and the spectrogram panels of one rendered output."""

import numpy as np
import pandas as pd

from workflow_scripts.artifacts import atomic_path
from workflow_scripts.conventions import get_convention
from workflow_scripts.metrics import decibels, output_row, read_json, read_output_audio
from workflow_scripts.plots import spectrogram_panels
from workflow_scripts.runtime import run_step


def write_metrics_row() -> None:
    row = output_row(
        snakemake.wildcards,
        output_wav=snakemake.input.wav,
        content_wav=snakemake.input.content,
        style_wav=snakemake.input.style,
        stylised_mel=snakemake.input.stylised,
        transfer_summary=read_json(snakemake.input.transfer_summary),
        vocode_summary=read_json(snakemake.input.vocode_summary),
        transfer_benchmark=snakemake.input.transfer_benchmark,
        vocode_benchmark=snakemake.input.vocode_benchmark,
    )
    with atomic_path(snakemake.output.tsv) as tmp:
        pd.DataFrame([row]).to_csv(tmp, sep="\t", index=False)


def plot_spectrograms() -> None:
    convention = get_convention(snakemake.params.convention)
    audio, _ = read_output_audio(snakemake.input.wav)
    rendered = convention.features(np.nan_to_num(audio))
    w = snakemake.wildcards
    panels = [
        (f"content: {w.content}", np.load(snakemake.input.content_mel)),
        (f"style: {w.style}", np.load(snakemake.input.style_mel)),
        (f"stylised mel ({w.backbone})", np.load(snakemake.input.stylised)),
        (f"rendered audio, re-analysed ({w.vocoder})", rendered),
    ]
    spectrogram_panels(
        snakemake.output.png,
        [(label, decibels(features, convention)) for label, features in panels],
        convention.sample_rate / convention.hop_length,
        title=f"{w.content} in the style of {w.style}: {w.backbone} + {w.vocoder} ({convention.name} mel)",
    )


def main() -> None:
    write_metrics_row()
    plot_spectrograms()


run_step(snakemake, main)
