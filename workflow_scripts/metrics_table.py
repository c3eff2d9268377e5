"""The metrics table, ``results/metrics.tsv``: one row per rendered output, keyed by its content, style, backbone
and vocoder. Apart from :mod:`workflow_scripts.metrics` (which computes a row, with torch) so that the jobs that
only gather rows (aggregate_metrics, report) start without importing torch."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pandas as pd

KEY_COLUMNS = ["content", "style", "backbone", "vocoder"]


def aggregate(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-output TSVs into one table sorted by its key columns."""
    frames = [pd.read_csv(p, sep="\t") for p in paths]
    if not frames:
        return pd.DataFrame(columns=KEY_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(KEY_COLUMNS, ignore_index=True)
