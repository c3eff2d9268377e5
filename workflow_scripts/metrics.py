"""Per-output measurements and their aggregation into one table."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from workflow_scripts.audio_io import duration
from workflow_scripts.conventions import UNIT_DB_RANGE, MelConvention

KEY_COLUMNS = ["content", "style", "backbone", "vocoder"]


def output_row(
    keys: Mapping[str, str],
    output_wav: str | os.PathLike,
    content_wav: str | os.PathLike,
    transfer_summary: Mapping[str, Any],
    vocode_summary: Mapping[str, Any],
) -> dict[str, Any]:
    """One metrics row for a rendered output.

    Columns: the keys; ``duration_s`` of the output and ``content_duration_s`` of the trimmed content clip and
    their difference ``duration_error_s``; the final ``content_loss`` and ``style_loss`` (relative, see
    :mod:`workflow_scripts.losses`) and ``steps`` of the transfer; ``transfer_s`` and ``vocode_s`` wall times.
    """
    out_duration = duration(output_wav)
    content_duration = duration(content_wav)
    return {
        **{k: keys[k] for k in KEY_COLUMNS},
        "convention": transfer_summary["convention"],
        "duration_s": round(out_duration, 6),
        "content_duration_s": round(content_duration, 6),
        "duration_error_s": round(out_duration - content_duration, 6),
        "content_loss": transfer_summary["final"]["content"],
        "style_loss": transfer_summary["final"]["style"],
        "steps": transfer_summary["final"]["step"],
        "transfer_s": round(transfer_summary["seconds"], 3),
        "vocode_s": round(vocode_summary["seconds"], 3),
    }


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def aggregate(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-output TSVs into one table sorted by its key columns."""
    frames = [pd.read_csv(p, sep="\t") for p in paths]
    if not frames:
        return pd.DataFrame(columns=KEY_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(KEY_COLUMNS, ignore_index=True)


def log_mel_error_db(
    audio: np.ndarray, reference: np.ndarray, convention: MelConvention, range_db: float = 80.0
) -> float:
    """Round-trip error of a vocoder: mean absolute mel difference (dB) between ``audio`` and ``reference``.

    Parameters
    ----------
    audio : np.ndarray
        Rendered mono audio at ``convention``'s sample rate.
    reference : np.ndarray
        Features ``(n_mels, frames)`` in ``convention`` (what the audio was rendered from, or the source's mel).
    convention : MelConvention
        Convention both mels are measured in.
    range_db : float
        Both mels are floored this far below the reference's peak, so inaudible bins do not dominate.

    Returns
    -------
    float
        The error in dB over the frames both mels have.
    """
    mels = [convention.features(audio), reference]
    frames = min(m.shape[1] for m in mels)
    rendered, target = (convention.to_unit(torch.from_numpy(m[:, :frames])).numpy() * UNIT_DB_RANGE for m in mels)
    floor = target.max() - range_db
    return float(np.abs(np.maximum(rendered, floor) - np.maximum(target, floor)).mean())
