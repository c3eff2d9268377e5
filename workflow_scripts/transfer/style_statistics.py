"""Style statistics: the Gram targets of one style clip under one backbone, computed once and stored.

A pipeline with N content clips and M style clips computes style features M times per backbone and convention,
not N x M: the ``style_stats`` rule writes them with :func:`save_style_targets` and every transfer with that
style loads them with :func:`load_style_targets`.
"""

from __future__ import annotations

import os

import torch

from workflow_scripts.pipeline.artifacts import atomic_path
from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.losses import GramTarget


def style_targets(backbone: Backbone, unit_mel: torch.Tensor) -> dict[str, GramTarget]:
    """Gram targets of ``backbone.style_layers`` for a unit-scale style mel ``(n_mels, frames)``."""
    with torch.no_grad():
        maps = backbone(unit_mel[None])
    return {name: GramTarget(maps[name]) for name in backbone.style_layers}


def save_style_targets(path: str | os.PathLike, targets: dict[str, GramTarget]) -> None:
    """Write ``targets`` atomically (``torch.save`` of ``{layer: GramTarget.to_state()}``, CPU tensors)."""
    states = {name: {k: v.cpu() for k, v in target.to_state().items()} for name, target in targets.items()}
    with atomic_path(path) as tmp:
        torch.save(states, tmp)


def load_style_targets(
    path: str | os.PathLike, backbone: Backbone, device: torch.device | str = "cpu"
) -> dict[str, GramTarget]:
    """Read targets written by :func:`save_style_targets`; they must cover exactly ``backbone.style_layers``."""
    states = torch.load(path, map_location=device, weights_only=True)
    if set(states) != set(backbone.style_layers):
        raise InputError(
            f"{path}: style statistics for layers {sorted(states)}, but the backbone uses "
            f"{sorted(backbone.style_layers)}; delete the file and rerun"
        )
    return {name: GramTarget.from_state(state) for name, state in states.items()}
