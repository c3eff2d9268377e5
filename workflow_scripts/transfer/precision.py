"""How a backbone's features are computed: in which precision, whether compiled, and several mels at once.

``bfloat16`` runs the backbone's products (convolutions, matrix products, attention) under
:func:`torch.autocast`; everything else stays float32, and the feature maps are handed on as float32, so losses,
Gram matrices and the optimiser's arithmetic are float32 whatever the precision. Every evaluation of an objective
goes through the same :class:`FeatureExtractor`, so the L-BFGS line search compares values computed the same
way: its loss is a fixed function of the mel, just a slightly different one from float32's (docs/gpu.md gives the
measured difference).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from workflow_scripts.pipeline.options import PRECISIONS
from workflow_scripts.transfer.backbones import Backbone

Maps = dict[str, torch.Tensor]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to bfloat16 on ``device`` for ``precision`` ``bfloat16``; nothing for ``float32`` (on any device,
    the meta device included, which torch.autocast refuses even disabled)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


class FeatureExtractor:
    """A backbone's feature maps in ``precision``, through ``torch.compile`` when ``compile`` is set.

    Args:
        backbone: the feature extractor (its weights on the device the mels are on).
        precision: ``float32`` or ``bfloat16`` (see the module docstring).
        compile: compile :meth:`~workflow_scripts.transfer.backbones.Backbone.batch_forward` (once per input shape;
            torch recompiles with dynamic shapes after the first change).
    """

    def __init__(self, backbone: Backbone, precision: str = "float32", compile: bool = False) -> None:
        self.backbone = backbone
        self.precision = precision
        self.network = torch.compile(backbone.batch_forward) if compile else backbone.batch_forward

    def __call__(self, unit_mel: torch.Tensor) -> Maps:
        """Maps ``(channels, positions)`` of one unit-scale mel ``(n_mels, frames)``."""
        return self.many([unit_mel])[0]

    def many(self, unit_mels: Sequence[torch.Tensor]) -> list[Maps]:
        """The maps of each of several unit-scale mels, each as :meth:`__call__` gives it, computed in as few
        batches as the backbone allows (:meth:`~workflow_scripts.transfer.backbones.Backbone.batch_groups`)."""
        maps: list[Maps] = [{} for _ in unit_mels]
        lengths = [mel.shape[1] for mel in unit_mels]
        for indices, width in self.backbone.batch_groups(lengths):
            padding = self.backbone.padding
            batch = torch.stack([F.pad(unit_mels[i], (0, width - lengths[i]), value=padding) for i in indices])
            with autocast(batch.device, self.precision):
                batch_maps = self.network(batch)
            for row, index in enumerate(indices):
                item = {name: value[row].float() for name, value in batch_maps.items()}
                maps[index] = self.backbone.crop(item, lengths[index])
        return maps
