"""What every rule script needs: logging to the rule's log file, one-line input errors, thread and device setup."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import torch

from workflow_scripts.audio_io import atomic_path
from workflow_scripts.errors import InputError

log = logging.getLogger("audio_style")


def run_step(snakemake: Any, main: Callable[[], None]) -> None:
    """Run a rule script's ``main`` with logging to its log file and stderr.

    An :class:`InputError` (a bad clip or file) is reported as one line naming the file and what to do, and the
    job fails; any other exception is a bug and keeps its traceback.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers)
    torch.set_num_threads(max(int(snakemake.threads), 1))
    try:
        main()
    except InputError as error:
        log.error("%s", error)
        logging.shutdown()
        sys.exit(1)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` fails clearly when no GPU is visible."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("config device: cuda, but no CUDA device is visible; set device: auto or cpu")
    return torch.device(name)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
