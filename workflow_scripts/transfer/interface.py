"""What every transfer method takes and gives: one batch signature, a single pair being a batch of one.

A method (:data:`Method`) makes the stylised unit-scale mel of each of several contents in the style of one clip.
What travels together is bundled: a content and its F0 (:class:`Content`), the style's statistics, mel and F0
(:class:`StyleClip`), and what every content of a job is transferred with (:class:`Setup`: the backbone, the mels'
convention, the options and the :class:`Engine`, where and how the backbone computes). The methods by name are
:data:`workflow_scripts.transfer.methods.METHODS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from workflow_scripts.audio.conventions import MelConvention
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.losses import GramTarget
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.transfer.style_statistics import style_targets


@dataclass(frozen=True)
class Content:
    """One content clip: its unit-scale mel ``(n_mels, frames)`` and, for methods that read it (``content_f0`` in
    :data:`~workflow_scripts.pipeline.options.TRANSFER_METHODS`), its F0 per mel frame in Hz, NaN where unvoiced."""

    unit_mel: np.ndarray
    f0: np.ndarray | None = None


@dataclass(frozen=True)
class StyleClip:
    """The style every content of a batch takes: its Gram targets (``{layer: GramTarget}``, on any device) and, for
    methods that read them (``style``, ``style_f0``), its unit-scale mel and its F0 per frame."""

    targets: Mapping[str, GramTarget]
    unit_mel: np.ndarray | None = None
    f0: np.ndarray | None = None

    @classmethod
    def from_mel(cls, backbone: Backbone, unit_mel: np.ndarray, f0: np.ndarray | None = None) -> StyleClip:
        """The style of a unit-scale mel, its Gram targets computed here (on the backbone's device)."""
        device = next(backbone.parameters()).device
        targets = style_targets(backbone, torch.as_tensor(unit_mel, dtype=torch.float32, device=device))
        return cls(targets, unit_mel, f0)


@dataclass(frozen=True)
class Engine:
    """Where and how a transfer computes: the torch device, the precision of the backbone's forward passes and of
    knn's similarity products, whether the objective's forward pass is compiled, and whether to show progress.
    Built from the options by :meth:`of`, the one place ``precision`` and ``compile`` are read."""

    device: torch.device
    precision: str = "float32"
    compile: bool = False
    progress: bool = True

    @classmethod
    def of(cls, options: TransferOptions, device: torch.device | str = "cpu", progress: bool = True) -> Engine:
        return cls(torch.device(device), options.precision, options.compile, progress)

    def features(self, backbone: Backbone) -> FeatureExtractor:
        """How ``backbone``'s feature maps are computed under this engine."""
        return FeatureExtractor(backbone, self.precision, self.compile)

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        """A float32 tensor of ``array`` on the engine's device."""
        return torch.as_tensor(array, dtype=torch.float32, device=self.device)


@dataclass(frozen=True)
class Setup:
    """What every content of a job is transferred with."""

    backbone: Backbone
    convention: MelConvention
    options: TransferOptions
    engine: Engine

    @classmethod
    def of(
        cls,
        backbone: Backbone,
        convention: MelConvention,
        options: TransferOptions,
        device: torch.device | str = "cpu",
        progress: bool = True,
    ) -> Setup:
        """The setup on ``device``, its engine built from the options (:meth:`Engine.of`)."""
        return cls(backbone.to(device), convention, options, Engine.of(options, device, progress))


@dataclass
class TransferResult:
    unit_mel: np.ndarray
    history: list[dict[str, float]]
    seconds: float
    # the losses of the whole result when its last history row is not (windowed optimisation)
    summary: dict[str, float] | None = None

    @property
    def final(self) -> dict[str, float]:
        return self.summary or self.history[-1]


class Method(Protocol):
    def __call__(self, contents: Sequence[Content], style: StyleClip, setup: Setup) -> list[TransferResult]:
        """The stylised unit-scale mel of each content (its shape), its loss history and the batch's wall time.

        Args:
            contents: the contents, each transferred as it would be alone.
            style: the style they all take.
            setup: the backbone (on the engine's device), the mels' convention, the options, the engine.
        """
        ...
