"""The metrics table, ``results/metrics.tsv``: one row per rendered output, keyed by its content, style, backbone
and vocoder. Apart from :mod:`workflow_scripts.metrics.metrics` (which computes a row, with torch) so that the jobs that
only gather rows (aggregate_metrics, report) start without importing torch.

Besides the metrics, every row states whether its output failed (``failure``: the reason, empty when it was built)
and where the table comes from (``config_hash``, ``commit``: :mod:`workflow_scripts.pipeline.provenance`).

pandas is imported where a table is handled, not with the module: the ``evaluate`` job writes its row with
:func:`write_row` and skips pandas's import, paid once per output.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from workflow_scripts.pipeline.artifacts import atomic_path

if TYPE_CHECKING:
    import pandas as pd

KEY_COLUMNS = ["content", "style", "backbone", "vocoder"]
FAILURE_COLUMN = "failure"
PROVENANCE_COLUMNS = ["config_hash", "commit"]


def aggregate(
    paths: Iterable[str | os.PathLike],
    *,
    config_hash: str,
    commit: str,
    failures: Mapping[tuple[str, ...], str] | None = None,
) -> pd.DataFrame:
    """Concatenate per-output TSVs into one table sorted by its key columns.

    Parameters
    ----------
    paths : one metrics row (TSV) per output that was built.
    config_hash, commit : the table's provenance, repeated on every row.
    failures : the outputs that were not built, keyed by their :data:`KEY_COLUMNS` values, with the reason; each
        gets a row of its keys and its ``failure``, the metrics left empty.
    """
    import pandas as pd

    frames = [pd.read_csv(p, sep="\t") for p in paths]
    failed = [
        dict(zip(KEY_COLUMNS, keys, strict=True)) | {FAILURE_COLUMN: why} for keys, why in (failures or {}).items()
    ]
    if failed:
        frames.append(pd.DataFrame(failed))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KEY_COLUMNS)
    if FAILURE_COLUMN not in table:
        table[FAILURE_COLUMN] = ""
    table[FAILURE_COLUMN] = table[FAILURE_COLUMN].fillna("")
    table = table.assign(config_hash=config_hash, commit=commit)
    return table.sort_values(KEY_COLUMNS, ignore_index=True)


def write_row(path: str | os.PathLike, row: Mapping[str, Any]) -> None:
    """One output's metrics row as :func:`aggregate` reads it: a TSV of a header and one line, NaN and None left
    empty as pandas writes them (atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(row.keys())
        writer.writerow("" if value is None or value != value else value for value in row.values())  # NaN != NaN


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """``results/metrics.tsv`` as written by :func:`aggregate` (an empty ``failure`` reads as empty, not NaN)."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", keep_default_na=True)
    if FAILURE_COLUMN in table:
        table[FAILURE_COLUMN] = table[FAILURE_COLUMN].fillna("")
    return table


def built(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of outputs that were built (no ``failure``)."""
    return table[table[FAILURE_COLUMN] == ""] if FAILURE_COLUMN in table else table
