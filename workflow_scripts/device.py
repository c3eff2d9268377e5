"""The torch device a job computes on, from the config's ``device``."""

from __future__ import annotations

import torch

from workflow_scripts.errors import InputError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` fails clearly when no GPU is visible."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("config device: cuda, but no CUDA device is visible; set device: auto or cpu")
    return torch.device(name)
