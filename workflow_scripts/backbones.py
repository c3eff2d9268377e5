"""Feature extractors for Gatys-style transfer on mel spectrograms.

Every backbone maps a unit-scale mel (see :mod:`workflow_scripts.conventions`), shaped ``(1, n_mels, frames)``,
to named feature maps shaped ``(channels, positions)``. Content loss compares the maps named in
``content_layers``; style (Gram) loss compares those in ``style_layers``. Adding a backbone means writing one
subclass with its options dataclass and registering it in :data:`BACKBONES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from workflow_scripts.errors import ConfigError, InputError


@dataclass(frozen=True)
class BackboneOptions:
    """Options every backbone accepts.

    Attributes:
        content_weight: weight of the content loss in the objective.
        style_weight: weight of the style (Gram) loss in the objective.
        weights: ``random`` (seeded initialisation) or a path to a ``state_dict`` file.
        seed: seed of the random initialisation.
    """

    content_weight: float = 1.0
    style_weight: float = 1.0
    weights: str = "random"
    seed: int = 0


class Backbone(nn.Module):
    """Interface shared by all backbones. Parameters are frozen: only the input is optimised."""

    Options: ClassVar[type[BackboneOptions]] = BackboneOptions
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]

    def __init__(self, options: BackboneOptions, n_mels: int) -> None:
        super().__init__()
        self.options = options
        self.n_mels = n_mels

    def forward(self, unit_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @classmethod
    def check_options(cls, options: BackboneOptions, where: str) -> None:
        """Fail at configuration time, before any job runs, if ``options`` cannot work; raise ConfigError."""
        if options.weights != "random" and not Path(options.weights).is_file():
            raise ConfigError(f"config: {where}.weights: file not found: {options.weights}; fix the path or use random")

    def finish_init(self) -> None:
        """Load weights if a file is configured, then freeze; subclasses call this at the end of ``__init__``."""
        if self.options.weights != "random":
            self.load_state_dict(_load_state_dict(self.options.weights))
        self.requires_grad_(False)
        self.eval()


class RandomCNN(Backbone):
    """Single-layer random CNN (Ulyanov & Lebedev 2016) with mel bands as input channels.

    One 1-D convolution over time (``filters`` kernels of ``width`` frames, no bias) followed by ReLU; the
    same layer gives the content and the style features. He-style initialisation as in the original:
    ``std = sqrt(2) * sqrt(2 / ((n_mels + filters) * width))``.
    """

    @dataclass(frozen=True)
    class Options(BackboneOptions):
        """Attributes: filters: number of random kernels. width: kernel width in frames (odd keeps alignment)."""

        filters: int = 4096
        width: int = 11
        content_weight: float = 1.0
        style_weight: float = 3.0

    content_layers = ("relu",)
    style_layers = ("relu",)

    def __init__(self, options: RandomCNN.Options, n_mels: int) -> None:
        super().__init__(options, n_mels)
        self.conv = nn.Conv1d(n_mels, options.filters, options.width, padding=options.width // 2, bias=False)
        std = math.sqrt(2.0) * math.sqrt(2.0 / ((n_mels + options.filters) * options.width))
        generator = torch.Generator().manual_seed(options.seed)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * std)
        self.finish_init()

    def forward(self, unit_mel: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"relu": torch.relu(self.conv(unit_mel))[0]}


BACKBONES: dict[str, type[Backbone]] = {"random_cnn": RandomCNN}


def build_backbone(kind: str, options: BackboneOptions, n_mels: int) -> Backbone:
    """Instantiate the backbone registered as ``kind``."""
    return BACKBONES[kind](options, n_mels)


def _load_state_dict(path: str) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        raise InputError(f"{path}: backbone weights file not found; fix the path or set weights: random")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise InputError(f"{path}: not a torch state_dict ({type(error).__name__}); re-save it") from None
