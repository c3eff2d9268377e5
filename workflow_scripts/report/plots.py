"""Per-corpus summary figure of the evaluation (PNG, matplotlib Agg); the per-output spectrogram panels are drawn
without matplotlib (:mod:`workflow_scripts.report.spectrogram_image`)."""

from __future__ import annotations

import itertools
import os

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import pandas as pd

from workflow_scripts.metrics.metrics_table import built
from workflow_scripts.pipeline.artifacts import atomic_path

VOCODER_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# Point labels (content/style) are drawn only on summaries this small, to keep larger corpora readable.
MAX_LABELLED_POINTS = 24


def summary_scatter(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Style match against content preservation, one marker per output that was built (``table``: the metrics
    table, failed outputs included): colour = backbone, shape = vocoder."""
    metrics = built(table)
    figure, axis = plt.subplots(figsize=(8, 6))
    backbones = sorted(metrics["backbone"].unique())
    vocoders = sorted(metrics["vocoder"].unique())
    colours = dict(zip(backbones, itertools.cycle(plt.get_cmap("tab10").colors), strict=False))
    markers = dict(zip(vocoders, itertools.cycle(VOCODER_MARKERS), strict=False))
    for (backbone, vocoder), group in metrics.groupby(["backbone", "vocoder"]):
        axis.scatter(
            group["content_preservation"],
            group["style_match"],
            color=colours[backbone],
            marker=markers[vocoder],
            s=60,
            edgecolors="black",
            linewidths=0.5,
        )
    if len(metrics) <= MAX_LABELLED_POINTS:
        for row in metrics.itertuples():
            axis.annotate(f"{row.content}/{row.style}", (row.content_preservation, row.style_match), fontsize=7,
                          xytext=(4, 4), textcoords="offset points")  # fmt: skip
    axis.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
    axis.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xlabel("content preservation (envelope and onset correlation; 1 = same timing)")
    axis.set_ylabel("style match (0 = texture unchanged, 1 = matches style)")
    handles = [plt.Line2D([], [], color=colours[b], marker="o", linestyle="", label=f"backbone {b}") for b in backbones]
    handles += [
        plt.Line2D([], [], color="grey", marker=markers[v], linestyle="", label=f"vocoder {v}") for v in vocoders
    ]
    axis.legend(handles=handles, fontsize=8, loc="best")
    axis.grid(alpha=0.3)
    failed = len(table) - len(metrics)
    axis.set_title(f"{len(metrics)} outputs" + (f" ({failed} failed, not shown)" if failed else ""))
    _save(figure, path)


def _save(figure: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
