"""Rule evaluate: the metrics row and the spectrogram panels of one rendered output."""

import logging
import time

import numpy as np

from workflow_scripts.audio.audio_io import load_audio
from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.metrics.metrics import decibels, output_row, read_json, read_output_audio
from workflow_scripts.metrics.metrics_table import write_row
from workflow_scripts.pipeline.runtime import job_usage, run_step
from workflow_scripts.report.spectrogram_image import spectrogram_panels


def write_metrics_row(transfer_summary: dict) -> None:
    """The row, with this job's own wall time, peak memory and CPU time (``evaluate_job_s``, ``evaluate_max_rss_mb``,
    ``evaluate_cpu_s``), so it is written last."""
    row = output_row(
        snakemake.wildcards,
        output_wav=snakemake.input.wav,
        content_wav=snakemake.input.content,
        style_wav=snakemake.input.style,
        stylised_mel=snakemake.input.stylised,
        content_f0=snakemake.input.content_f0,
        kinds=snakemake.params.kinds,
        transfer_summary=transfer_summary,
        vocode_summary=read_json(snakemake.input.vocode_summary),
    )
    usage = job_usage()
    row |= {f"evaluate_{name}": usage[name] for name in ("job_s", "max_rss_mb", "cpu_s")}
    write_row(snakemake.output.tsv, row)
    logging.info(
        "metrics row written; the job took %.1f s from process start (%.1f s of CPU), peak %.0f MiB",
        usage["job_s"], usage["cpu_s"], usage["max_rss_mb"],
    )  # fmt: skip


def plot_spectrograms(convention_name: str) -> None:
    """Content and style mels are computed from their audio exactly as the mel rule does, rather than read: two
    input files fewer per output, which Snakemake's planning pays for at every output of a corpus."""
    convention = get_convention(convention_name)
    audio, _ = read_output_audio(snakemake.input.wav)
    w = snakemake.wildcards
    panels = [
        (f"content: {w.content}", convention.features(load_audio(snakemake.input.content)[0][0])),
        (f"style: {w.style}", convention.features(load_audio(snakemake.input.style)[0][0])),
        (f"stylised mel ({w.backbone})", np.load(snakemake.input.stylised)),
        (f"rendered audio, re-analysed ({w.vocoder})", convention.features(np.nan_to_num(audio))),
    ]
    spectrogram_panels(
        snakemake.output.png,
        [(label, decibels(features, convention)) for label, features in panels],
        convention.sample_rate / convention.hop_length,
        title=f"{w.content} in the style of {w.style}: {w.backbone} + {w.vocoder} ({convention.name} mel)",
    )


def main() -> None:
    w = snakemake.wildcards
    # the first line comes once the imports are done: the time to it is the job's start-up
    logging.info("measuring %s in the style of %s (%s + %s)", w.content, w.style, w.backbone, w.vocoder)
    transfer_summary = read_json(snakemake.input.transfer_summary)
    start = time.perf_counter()
    plot_spectrograms(transfer_summary["convention"])
    logging.info("spectrogram panels drawn in %.1f s", time.perf_counter() - start)
    write_metrics_row(transfer_summary)


run_step(snakemake, main)
