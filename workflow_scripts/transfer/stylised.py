"""The three files of one stylised output: the mel, its loss history and its summary.

Written by the transfer jobs, either one pair per job or a whole style's pairs into a batch directory
(``transfer.batch_pairs``), from which each pair's files are copied to their own paths. Imports nothing heavy:
the copying jobs use it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workflow_scripts.pipeline.artifacts import atomic_path, copy_atomically, write_json

# Each file's suffix after the output's stem (the pipeline's stylised pattern; a batch directory's content id).
STYLISED_FILES = {"mel": ".npy", "history": ".history.tsv", "summary": ".json"}


def write_stylised(
    paths: Mapping[str, str | os.PathLike],
    features: np.ndarray,
    history: Sequence[Mapping[str, float]],
    summary: Mapping[str, Any],
) -> None:
    """Write the features (``.npy``), the history (TSV, one row per step) and the summary (JSON) atomically to
    ``paths["mel"]``, ``paths["history"]`` and ``paths["summary"]``."""
    with atomic_path(paths["mel"]) as tmp, open(tmp, "wb") as handle:
        np.save(handle, features)
    with atomic_path(paths["history"]) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(history[-1]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    write_json(paths["summary"], summary)


def batch_paths(directory: str | os.PathLike, content: str) -> dict[str, Path]:
    """Where a batch directory keeps one content's files."""
    return {name: Path(directory) / f"{content}{suffix}" for name, suffix in STYLISED_FILES.items()}


def copy_stylised(sources: Mapping[str, str | os.PathLike], targets: Mapping[str, str | os.PathLike]) -> None:
    """Copy each of the three files atomically."""
    for name in STYLISED_FILES:
        copy_atomically(sources[name], targets[name])
