"""The interface every backbone implements: a unit-scale mel (see :mod:`workflow_scripts.audio.conventions`), shaped
``(1, n_mels, frames)``, to named feature maps shaped ``(channels, positions)``, a batch of mels to a batch of maps
(:meth:`Backbone.batch_forward`), and a mel to the per-frame features knn matches by. The backbones by name are
:data:`workflow_scripts.transfer.backbones.BACKBONES`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from workflow_scripts.pipeline.backbone_options import BackboneOptions
from workflow_scripts.pipeline.errors import InputError


class Backbone(nn.Module):
    """Interface shared by all backbones. Parameters are frozen: only the input is optimised."""

    Options: ClassVar[type[BackboneOptions]] = BackboneOptions
    # {layer: weight}; each loss is the weighted mean over its layers
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]

    def __init__(self, options: BackboneOptions, n_mels: int) -> None:
        super().__init__()
        self.options = options
        self.n_mels = n_mels

    # Unit-scale value of the frames that pad a shorter mel when mels of different lengths are batched
    # (:meth:`batch_groups`).
    padding: ClassVar[float] = 0.0

    def batch_forward(self, unit_mels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named feature maps ``(batch, channels, positions)`` of unit-scale mels ``(batch, n_mels, frames)``; each
        item's maps are the ones it has alone."""
        raise NotImplementedError

    def forward(self, unit_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named feature maps ``(channels, positions)`` of one unit-scale mel ``(1, n_mels, frames)``."""
        return {name: maps[0] for name, maps in self.batch_forward(unit_mel).items()}

    def batch_groups(self, frames: Sequence[int]) -> list[tuple[list[int], int]]:
        """Which of several mels (``frames`` each) one :meth:`batch_forward` can serve: groups of their indices,
        each with the length its members are padded to (with :attr:`padding`) without changing their maps.
        By default only mels of equal length share a batch."""
        groups: dict[int, list[int]] = {}
        for index, length in enumerate(frames):
            groups.setdefault(length, []).append(index)
        return [(indices, length) for length, indices in groups.items()]

    def crop(self, maps: dict[str, torch.Tensor], frames: int) -> dict[str, torch.Tensor]:
        """One item's maps from a padded batch, cut back to what a mel of ``frames`` frames has alone."""
        return maps

    def frame_features(self, unit_mel: torch.Tensor) -> torch.Tensor:
        """Features of each frame, ``(channels, frames)``, of a unit-scale mel ``(n_mels, frames)``: what the
        feature-matching transfer (:mod:`workflow_scripts.transfer.matching`) compares frames by."""
        raise NotImplementedError

    def finish_init(self) -> None:
        """Load the configured weights unless ``random``, then freeze; subclasses call this at the end of ``__init__``.

        Keys of the loaded state dict that this backbone does not hold are ignored (a full network's state dict
        loads into a backbone cut after an earlier layer); a missing key or a shape mismatch is an InputError.
        """
        weights = self.options.weights
        if weights != "random":
            state = self.state_dict_for(weights)
            own = self.state_dict()
            missing = [key for key in own if key not in state]
            if missing:
                raise InputError(f"{weights}: no key {missing[0]!r}; expected a {type(self).__name__} state_dict")
            try:
                self.load_state_dict({key: state[key] for key in own})
            except RuntimeError as error:
                detail = str(error).splitlines()[-1].strip()
                raise InputError(f"{weights}: does not fit {type(self).__name__} ({detail})") from None
        self.requires_grad_(False)
        self.eval()

    def state_dict_for(self, weights: str) -> dict[str, torch.Tensor]:
        """The state dict that ``weights`` (not ``random``) names."""
        return load_state_dict(weights)


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        raise InputError(f"{path}: backbone weights file not found; fix the path or set weights: random")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise InputError(f"{path}: not a torch state_dict ({type(error).__name__}); re-save it") from None
