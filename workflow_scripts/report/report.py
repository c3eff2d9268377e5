"""The self-contained HTML report: summary plot, metrics table, every spectrogram and every output playable.

Snakemake's own ``--report`` cannot play audio inline (it offers audio files only as downloads), so the page is
rendered here with Jinja2 (``templates/report.html.j2``). Images and audio are embedded as data URIs: the single
file can be mailed or archived and opens in any browser without the results directory.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import soundfile as sf
import yaml
from PIL import Image

from workflow_scripts.metrics.metrics_table import FAILURE_COLUMN, KEY_COLUMNS, built, read_table
from workflow_scripts.pipeline.artifacts import atomic_path

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Column:
    """How the report shows one column of ``results/metrics.tsv``.

    ``label`` is what a reader sees; ``better`` is the good direction: "↑" (higher), "↓" (lower), "→1" or "→0"
    (closest to that value) or "" (descriptive); ``scale`` is the range or unit ("-1..1", "dB"). ``key``: in the
    first table (the metrics that say how well the transfer worked) rather than in "checks and costs";
    ``headline``: also printed beside each output's player.
    """

    name: str
    label: str
    better: str = ""
    scale: str = ""
    key: bool = False
    headline: bool = False

    @property
    def heading(self) -> str:
        return f"{self.label} {self.better}".strip()


# Every metrics column the page shows, in order (docs/metrics.md defines them). A new metric is one entry here; the
# full metrics.tsv is embedded as a download whatever is listed.
COLUMNS = [
    Column("content_preservation", "content kept", "↑", "-1..1", key=True, headline=True),
    Column("style_match", "style match", "↑", "≤1; 0 unchanged", key=True, headline=True),
    Column("f0_corr", "F0 corr", "↑", "-1..1", key=True, headline=True),
    Column("voicing_agreement", "voicing agree", "↑", "0..1", key=True),
    Column("speaker_moved", "speaker moved", "↑", "0 none, 1 style's", key=True, headline=True),
    Column("speaker_sim_style", "speaker sim to style", "↑", "-1..1", key=True),
    Column("dnsmos_ovrl", "DNSMOS OVRL", "↑", "1..5", key=True),
    Column("dnsmos_ovrl_change", "DNSMOS change", "↑", "vs content", key=True, headline=True),
    Column("loudness_corr", "loudness contour corr", "↑", "-1..1", key=True),
    Column("quiet_lift_lu", "quiet passages lifted", "→0", "LU", key=True),
    Column("chroma_corr", "chroma corr", "↑", "-1..1", key=True),
    Column("frame_change_ratio", "frame change ratio", "↓", "≤1.5 smooth", key=True),
    Column("style_match_mel", "style match of the mel", "↑", "≤1"),
    Column("reconstruction_sc_db", "vocoder error", "↓", "dB"),
    Column("duration_ratio", "duration ratio", "→1"),
    Column("peak_dbfs", "peak", "", "dBFS"),
    Column("clipped_samples", "clipped samples", "→0"),
    Column("nonfinite_samples", "non-finite samples", "→0"),
    Column("content_loss", "content loss", "↓"),
    Column("style_loss", "style loss", "↓"),
    Column("method", "method"),
    Column("transfer_job_s", "transfer job", "↓", "s"),
    Column("transfer_max_rss_mb", "transfer memory", "↓", "MiB"),
    Column("vocode_job_s", "vocode job", "↓", "s"),
    Column("vocode_max_rss_mb", "vocode memory", "↓", "MiB"),
    Column("evaluate_job_s", "evaluate job", "↓", "s"),
    Column("evaluate_max_rss_mb", "evaluate memory", "↓", "MiB"),
]
MIME_TYPES = {".png": "image/png", ".tsv": "text/tab-separated-values", ".ogg": "audio/ogg", ".jpg": "image/jpeg"}
# Audio is embedded as Ogg Vorbis at this libsndfile compression level (0 best quality .. 1 smallest): about
# 6.6 KB per second of 22.05 kHz mono speech (a 10 s seed example), against 88 KB as float32 WAV.
VORBIS_COMPRESSION = 0.6
# Spectrogram panels are embedded as JPEG of this quality: a 10 s output's panels take 150 KB instead of the PNG's
# 475 KB (the PNG stays in results/plots/).
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Output:
    """One rendered output: its keys (content, style, backbone, vocoder), spectrogram PNG and WAV."""

    keys: Mapping[str, str]
    plot: str | os.PathLike
    audio: str | os.PathLike


def data_uri(path: str | os.PathLike) -> str:
    """The file's bytes as a base64 ``data:`` URI, with the MIME type of its extension."""
    return _uri(MIME_TYPES[Path(path).suffix.lower()], Path(path).read_bytes())


def audio_uri(path: str | os.PathLike) -> str:
    """An audio file as a ``data:`` URI of Ogg Vorbis (mono mix-down), which keeps the page small."""
    data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    buffer = io.BytesIO()
    mono = np.nan_to_num(data.mean(axis=1))
    sf.write(buffer, mono, sample_rate, format="OGG", subtype="VORBIS", compression_level=VORBIS_COMPRESSION)
    return _uri(MIME_TYPES[".ogg"], buffer.getvalue())


def jpeg_uri(path: str | os.PathLike) -> str:
    """An image (a spectrogram PNG) as a ``data:`` URI of JPEG, which keeps the page small."""
    buffer = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return _uri(MIME_TYPES[".jpg"], buffer.getvalue())


def _uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


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


def headline(row: Mapping[str, object]) -> list[tuple[str, str]]:
    """(heading, value) of the :data:`COLUMNS` marked ``headline`` that apply to the output of ``row``."""
    cells = [(column.heading, _number(row.get(column.name))) for column in COLUMNS if column.headline]
    return [(heading, value) for heading, value in cells if value]


def render_report(
    path: str | os.PathLike,
    *,
    metrics_tsv: str | os.PathLike,
    summary_plot: str | os.PathLike,
    outputs: Sequence[Output],
    clips: Mapping[str, str | os.PathLike],
    config: Mapping[str, object],
    failures: Sequence[Mapping[str, object]] = (),
    title: str = "Audio style transfer report",
) -> None:
    """Write the report page atomically.

    Parameters
    ----------
    path : HTML file to write.
    metrics_tsv : the aggregated metrics table (one row per output of the configuration, failed ones included).
    summary_plot : PNG of style match against content preservation.
    outputs : every output that was built; grouped by (content, style) pair, then backbone, in the page.
    clips : conditioned audio of each clip id that appears in a pair, played beside its pairs' outputs.
    config : the configuration of the run, shown in the page.
    failures : the run's failed jobs (``rule``, ``job``, ``message``), listed in the page.
    title : page title.
    """
    metrics = read_table(metrics_tsv)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["data_uri"] = data_uri
    environment.filters["audio_uri"] = audio_uri
    environment.filters["jpeg_uri"] = jpeg_uri
    environment.filters["number"] = _number
    environment.globals["headline"] = headline
    present = [column for column in COLUMNS if column.name in metrics.columns]
    first = metrics.iloc[0] if len(metrics) else {}
    page = environment.get_template("report.html.j2").render(
        title=title,
        summary_plot=summary_plot,
        metrics_tsv=metrics_tsv,
        key_columns=list(KEY_COLUMNS),
        tables=[
            ("metrics", "Metrics", [c for c in present if c.key]),
            ("checks", "Checks and costs", [c for c in present if not c.key]),
        ],
        rows=built(metrics).to_dict("records"),
        failed_outputs=metrics[metrics[FAILURE_COLUMN] != ""].to_dict("records") if FAILURE_COLUMN in metrics else [],
        failures=failures,
        pairs=group_outputs(outputs, metrics),
        clips=clips,
        config_text=yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True),
        config_hash=first.get("config_hash", ""),
        commit=first.get("commit", ""),
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
