"""Rule evaluate: the metrics row and the spectrogram panels of one rendered output.

The files are read here into one :class:`~workflow_scripts.metrics.analysis.OutputAnalysis`; the panels and the
metric families share its analyses (the content's and style's mels, the rendered audio re-analysed)."""

import logging
import time

import numpy as np
import soundfile as sf

from workflow_scripts.audio.audio_io import load_audio, to_mono
from workflow_scripts.metrics.analysis import OutputAnalysis
from workflow_scripts.metrics.metrics import read_json
from workflow_scripts.metrics.metrics_table import write_row
from workflow_scripts.metrics.registry import measure_row
from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.report.spectrogram_image import spectrogram_panels


def read_analysis() -> OutputAnalysis:
    """The output as written (mono, NaN and infinite samples kept: they are counted, not rejected), the clips at the
    vocoder convention's rate, the stylised mel, the content's F0 and the summaries."""
    data, rate = sf.read(snakemake.input.wav, dtype="float32", always_2d=True)
    clips = {role: load_audio(snakemake.input[role]) for role in ("content", "style")}
    return OutputAnalysis(
        output=(to_mono(np.ascontiguousarray(data.T)), int(rate)),
        content=(to_mono(clips["content"][0]), clips["content"][1]),
        style=(to_mono(clips["style"][0]), clips["style"][1]),
        stylised=np.load(snakemake.input.stylised),
        content_f0=np.load(snakemake.input.content_f0),
        kinds=snakemake.params.kinds,
        transfer_summary=read_json(snakemake.input.transfer_summary),
        vocode_summary=read_json(snakemake.input.vocode_summary),
    )


def plot_spectrograms(analysis: OutputAnalysis) -> None:
    """Content and style mels as the mel rule makes them, the stylised mel and the rendered audio re-analysed, on one
    colour scale (computed from the audio rather than read: two input files fewer per output, which Snakemake's
    planning pays for at every output of a corpus)."""
    w, convention = snakemake.wildcards, analysis.convention
    panels = [
        (f"content: {w.content}", analysis.mels["content"]),
        (f"style: {w.style}", analysis.mels["style"]),
        (f"stylised mel ({w.backbone})", analysis.mels["output"]),
        (f"rendered audio, re-analysed ({w.vocoder})", analysis.rendered_db),
    ]
    spectrogram_panels(
        snakemake.output.png,
        panels,
        convention.sample_rate / convention.hop_length,
        title=f"{w.content} in the style of {w.style}: {w.backbone} + {w.vocoder} ({convention.name} mel)",
    )


def main() -> None:
    w = snakemake.wildcards
    # the first line comes once the imports are done: the time to it is the job's start-up
    logging.info("measuring %s in the style of %s (%s + %s)", w.content, w.style, w.backbone, w.vocoder)
    analysis = read_analysis()
    start = time.perf_counter()
    plot_spectrograms(analysis)
    logging.info("spectrogram panels drawn in %.1f s", time.perf_counter() - start)
    # the costs family, last, reads this job's own time, memory and CPU so far (evaluate_job_s, ...)
    row = measure_row(w, analysis)
    write_row(snakemake.output.tsv, row)
    logging.info(
        "metrics row written; the job took %.1f s from process start (%.1f s of CPU), peak %.0f MiB",
        row["evaluate_job_s"], row["evaluate_cpu_s"], row["evaluate_max_rss_mb"],
    )  # fmt: skip


run_step(snakemake, main)
