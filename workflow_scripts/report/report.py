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
from workflow_scripts.metrics.registry import Column, columns
from workflow_scripts.pipeline.artifacts import atomic_path

TEMPLATES = Path(__file__).parent / "templates"


def report_columns() -> list[Column]:
    """Every metrics column the page shows, in the registry's order (docs/metrics.md defines them); the full
    metrics.tsv is embedded as a download whatever is shown."""
    return [column for column in columns() if column.report]


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
    """(heading, value) of the columns marked ``headline`` that apply to the output of ``row``."""
    cells = [(column.heading, _number(row.get(column.name))) for column in report_columns() if column.headline]
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
    present = [column for column in report_columns() if column.name in metrics.columns]
    first = metrics.iloc[0] if len(metrics) else {}
    page = environment.get_template("report.html.j2").render(
        title=title,
        summary_plot=summary_plot,
        metrics_tsv=metrics_tsv,
        key_columns=list(KEY_COLUMNS),
        tables=[
            ("metrics", "Metrics", [c for c in present if c.report == "key"]),
            ("checks", "Checks and costs", [c for c in present if c.report == "checks"]),
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
