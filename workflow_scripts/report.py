"""The self-contained HTML report: summary plot, metrics table, every spectrogram and every output playable.

Snakemake's own ``--report`` cannot play audio inline (it offers audio files only as downloads), so the page is
rendered here with Jinja2 (``templates/report.html.j2``). Images and audio are embedded as data URIs: the single
file can be mailed or archived and opens in any browser without the results directory.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from workflow_scripts.artifacts import atomic_path
from workflow_scripts.metrics_table import KEY_COLUMNS

TEMPLATES = Path(__file__).parent / "templates"
# Columns shown in the page's table (the full table is embedded as a TSV download).
TABLE_COLUMNS = [
    *KEY_COLUMNS,
    "method",
    "f0_corr",
    "voicing_agreement",
    "speaker_sim_style",
    "speaker_moved",
    "dnsmos_ovrl",
    "content_dnsmos_ovrl",
    "dnsmos_ovrl_change",
    "content_preservation",
    "loudness_corr",
    "chroma_corr",
    "frame_change_ratio",
    "style_match",
    "style_match_mel",
    "content_loss",
    "style_loss",
    "reconstruction_sc_db",
    "duration_ratio",
    "peak_dbfs",
    "clipped_samples",
    "nonfinite_samples",
    "transfer_job_s",
    "transfer_max_rss_mb",
    "vocode_job_s",
    "vocode_max_rss_mb",
]
# Shown beside each output's player, when they apply to its pair.
HEADLINE_COLUMNS = [
    ("f0_corr", "F0 corr"),
    ("speaker_moved", "speaker moved"),
    ("dnsmos_ovrl_change", "DNSMOS OVRL change"),
]
MIME_TYPES = {".png": "image/png", ".wav": "audio/wav", ".tsv": "text/tab-separated-values"}


@dataclass(frozen=True)
class Output:
    """One rendered output: its keys (content, style, backbone, vocoder), spectrogram PNG and WAV."""

    keys: Mapping[str, str]
    plot: str | os.PathLike
    audio: str | os.PathLike


def data_uri(path: str | os.PathLike) -> str:
    """The file's bytes as a base64 ``data:`` URI, with the MIME type of its extension."""
    mime = MIME_TYPES[Path(path).suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def group_outputs(outputs: Sequence[Output], metrics: pd.DataFrame) -> list[dict]:
    """Outputs nested as pair -> backbone -> vocoder, each with its metrics row (as a dict)."""
    rows = {tuple(row[k] for k in KEY_COLUMNS): row for row in metrics.to_dict("records")}
    pairs: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for output in outputs:
        key = tuple(output.keys[k] for k in KEY_COLUMNS)
        pair = pairs.setdefault((output.keys["content"], output.keys["style"]), {})
        pair.setdefault(output.keys["backbone"], []).append(
            {"vocoder": output.keys["vocoder"], "plot": output.plot, "audio": output.audio, "metrics": rows[key]}
        )
    return [
        {"content": content, "style": style, "backbones": sorted(backbones.items())}
        for (content, style), backbones in sorted(pairs.items())
    ]


def render_report(
    path: str | os.PathLike,
    *,
    metrics_tsv: str | os.PathLike,
    summary_plot: str | os.PathLike,
    outputs: Sequence[Output],
    clips: Mapping[str, str | os.PathLike],
    title: str = "Audio style transfer report",
) -> None:
    """Write the report page atomically.

    Parameters
    ----------
    path : HTML file to write.
    metrics_tsv : the aggregated metrics table (one row per output).
    summary_plot : PNG of style match against content preservation.
    outputs : every rendered output; grouped by (content, style) pair, then backbone, in the page.
    clips : conditioned audio of each clip id that appears in a pair, played beside its pairs' outputs.
    title : page title.
    """
    metrics = pd.read_csv(metrics_tsv, sep="\t")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["data_uri"] = data_uri
    environment.filters["number"] = _number
    page = environment.get_template("report.html.j2").render(
        title=title,
        summary_plot=summary_plot,
        metrics_tsv=metrics_tsv,
        columns=[c for c in TABLE_COLUMNS if c in metrics.columns],
        headline_columns=HEADLINE_COLUMNS,
        rows=metrics.to_dict("records"),
        pairs=group_outputs(outputs, metrics),
        clips=clips,
    )
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")


def _number(value: object) -> str:
    """A cell: floats to 3 significant digits; a metric that does not apply (NaN, or no column) is left empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
