"""The backbones by name (config ``backbones``), each a :class:`~workflow_scripts.transfer.backbone_base.Backbone`,
and the random CNN.

Every backbone maps a unit-scale mel (see :mod:`workflow_scripts.audio.conventions`), shaped ``(1, n_mels, frames)``,
to named feature maps shaped ``(channels, positions)``, and a batch of mels to a batch of maps
(:meth:`Backbone.batch_forward`). Content loss compares the maps named in ``content_layers``; style (Gram) loss
compares those in ``style_layers``. Adding a backbone means writing one subclass with its options dataclass (in
:mod:`workflow_scripts.pipeline.backbone_options`, which the configuration check imports without torch) and
registering both. The torchvision image backbones
(VGG-19, ResNet-50, ViT-B/16, :mod:`workflow_scripts.transfer.image_backbones`) share one input adaptation,
:func:`mel_to_image`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from workflow_scripts.audio.conventions import unit_to_amplitude
from workflow_scripts.pipeline.backbone_options import BackboneOptions, RandomCNNOptions
from workflow_scripts.transfer.backbone_base import Backbone
from workflow_scripts.transfer.image_backbones import VGG19, ResNet50, ViTB16


class RandomCNN(Backbone):
    """Single-layer random CNN (Ulyanov & Lebedev 2016) with mel bands as input channels.

    As in the published recipe the layer sees ``log(1 + amplitude)`` (:func:`unit_to_amplitude` of the unit-scale
    mel), not decibels: quiet bins stay near zero, so the Gram statistics describe the partials and their texture
    rather than the level of the noise floor (on dB input the optimiser matched the floor and left the partials
    nearly unchanged). One 1-D convolution over time (``filters`` kernels of ``width`` frames, no bias) followed
    by ReLU; the same layer gives the content and the style features. He-style initialisation as in the original:
    ``std = sqrt(2) * sqrt(2 / ((n_mels + filters) * width))``.

    Multi-scale (``widths``): each extra width is a parallel layer of its own ``filters`` kernels on the same
    input (layer ``relu_w{width}``), drawn after ``width``'s from the same seeded generator, so the ``relu``
    layer is the same with or without them.
    """

    Options = RandomCNNOptions

    def __init__(self, options: RandomCNNOptions, n_mels: int) -> None:
        super().__init__(options, n_mels)
        generator = torch.Generator().manual_seed(options.seed)
        self.conv = self._random_conv(n_mels, options.filters, options.width, generator)
        self.extra_convs = nn.ModuleList(
            self._random_conv(n_mels, options.filters, width, generator) for width in options.widths
        )
        self.content_layers = self.style_layers = {name: 1.0 for name in self._layer_names()}
        self.finish_init()

    @staticmethod
    def _random_conv(n_mels: int, filters: int, width: int, generator: torch.Generator) -> nn.Conv1d:
        conv = nn.Conv1d(n_mels, filters, width, padding=width // 2, bias=False)
        std = math.sqrt(2.0) * math.sqrt(2.0 / ((n_mels + filters) * width))
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * std)
        return conv

    def _layer_names(self) -> list[str]:
        return ["relu", *(f"relu_w{width}" for width in self.options.widths)]

    # The layer's input at a -inf frame is log(1 + 0) = 0: the convolution's own zero padding, so the frames of a
    # shorter mel in a batch see at its end exactly what they see alone.
    padding = -math.inf

    def batch_forward(self, unit_mels: torch.Tensor) -> dict[str, torch.Tensor]:
        amplitude = torch.log1p(unit_to_amplitude(unit_mels))
        convs = [self.conv, *self.extra_convs]
        return {name: torch.relu(conv(amplitude)) for name, conv in zip(self._layer_names(), convs, strict=True)}

    def batch_groups(self, frames: Sequence[int]) -> list[tuple[list[int], int]]:
        return [(list(range(len(frames))), max(frames))]

    def crop(self, maps: dict[str, torch.Tensor], frames: int) -> dict[str, torch.Tensor]:
        return {name: value[:, :frames] for name, value in maps.items()}

    def frame_features(self, unit_mel: torch.Tensor) -> torch.Tensor:
        return torch.cat(list(self(unit_mel[None]).values()))


# Keyed like backbone_options.BACKBONE_OPTIONS, each with its Options class there (tested).
BACKBONES: dict[str, type[Backbone]] = {
    "random_cnn": RandomCNN,
    "vgg19": VGG19,
    "resnet50": ResNet50,
    "vit_b_16": ViTB16,
}


def build_backbone(kind: str, options: BackboneOptions, n_mels: int) -> Backbone:
    """Instantiate the backbone registered as ``kind``."""
    return BACKBONES[kind](options, n_mels)


def backbone_from_params(params: Mapping[str, object], n_mels: int) -> Backbone:
    """Instantiate a backbone from a rule's ``params`` (``{"type": kind, **options}``, see settings.Component)."""
    options = dict(params)
    kind = options.pop("type")
    return build_backbone(kind, BACKBONES[kind].Options(**options), n_mels)
