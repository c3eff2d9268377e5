"""Options of the backbones (workflow_scripts/transfer/backbones.py) and the types a config may name
(:data:`BACKBONE_OPTIONS`): one dataclass each.

Light, like everything the Snakefile imports: the configuration check parses each config entry into its dataclass,
and each job rebuilds the component from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.ranges import ranged


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

    def check(self, where: str) -> None:
        """Fail at configuration time, before any job runs, if these options cannot work; raise ConfigError."""
        if self.weights != "random" and not Path(self.weights).is_file():
            raise ConfigError(f"config: {where}.weights: file not found: {self.weights}; fix the path or use random")


@dataclass(frozen=True)
class RandomCNNOptions(BackboneOptions):
    """Attributes: filters: number of random kernels (the paper's 4096 costs 16x more Gram work than the
    default 1024, with outputs that look the same; ``make bench transfer``). width: kernel width in frames
    (odd keeps alignment). widths: extra kernel widths (multi-scale, as in Grinstein et al. 2018): each adds a
    layer of ``filters`` kernels of that width beside ``width``'s, in the content and style losses with equal
    weight and in knn's frame features; empty (default) keeps the single layer (``make bench quality_levers``)."""

    filters: int = 1024
    width: int = ranged(11, minimum=1)
    widths: list[int] = ranged(default_factory=list, minimum=1)
    content_weight: float = 1.0
    style_weight: float = 3.0

    def check(self, where: str) -> None:
        super().check(where)
        for width in [self.width, *self.widths]:
            if width % 2 == 0:
                raise ConfigError(f"config: {where}: kernel width {width} must be odd (it keeps frames aligned)")
        if len({self.width, *self.widths}) != 1 + len(self.widths):
            raise ConfigError(f"config: {where}.widths: {self.widths} repeats a width (width is {self.width})")


@dataclass(frozen=True)
class ImageBackboneOptions(BackboneOptions):
    """Options of the torchvision ImageNet backbones.

    Attributes:
        weights: ``random`` (torchvision's initialisation, seeded by ``seed``), ``imagenet`` (torchvision's
            weight registry; the file must already be in torch hub's checkpoint cache) or a path to a
            ``state_dict`` with torchvision's key names (keys of layers deeper than the ones used are ignored).
        content_layers: ``{layer: weight}``; the content loss is the weighted mean of these layers' losses.
        style_layers: ``{layer: weight}``; the style loss is the weighted mean of these layers' Gram losses.
    """

    # the network's selectable layers, shallow to deep
    layers: ClassVar[tuple[str, ...]] = ()
    # the file of torchvision's IMAGENET1K_V1 weights entry (the same URL as torchvision's registry; tested)
    imagenet_url: ClassVar[str] = ""

    content_layers: dict[str, float] = ranged(default_factory=dict, minimum=0)
    style_layers: dict[str, float] = ranged(default_factory=dict, minimum=0)

    def check(self, where: str) -> None:
        for kind in ("content_layers", "style_layers"):
            selected = getattr(self, kind)
            if not selected:
                raise ConfigError(f"config: {where}.{kind}: select at least one of {', '.join(self.layers)}")
            unknown = sorted(set(selected) - set(self.layers))
            if unknown:
                known = ", ".join(self.layers)
                raise ConfigError(f"config: {where}.{kind}: unknown layer {unknown[0]!r}; known: {known}")
            if sum(selected.values()) <= 0:
                raise ConfigError(f"config: {where}.{kind}: the weights must have a positive sum")
        if self.weights == "imagenet":
            cached = imagenet_cache_path(self.imagenet_url)
            if not cached.is_file():
                raise ConfigError(
                    f"config: {where}.weights: imagenet needs {cached.name}, which is not in the torch hub cache "
                    f"{cached.parent} (nothing is downloaded at run time); fetch {self.imagenet_url} into that "
                    f"directory on a machine with network (or point TORCH_HOME at a cache that has it), or set "
                    f"weights to a state_dict file or to random"
                )
        else:
            super().check(where)


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()`` without importing torch: ``$TORCH_HOME/hub``, where ``TORCH_HOME`` defaults to
    ``$XDG_CACHE_HOME/torch`` and ``XDG_CACHE_HOME`` to ``~/.cache`` (tested equal to torch's)."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def imagenet_cache_path(url: str) -> Path:
    """Where torch hub looks for (and would download) the weights file at ``url``: its checkpoint cache."""
    return torch_hub_dir() / "checkpoints" / Path(urlparse(url).path).name


@dataclass(frozen=True)
class VGG19Options(ImageBackboneOptions):
    # convB_N: the ReLU output of the N-th convolution of block B (Gatys et al.); the blocks have 2, 2, 4, 4, 4
    layers = tuple(
        f"conv{block}_{conv}" for block, convs in enumerate((2, 2, 4, 4, 4), 1) for conv in range(1, convs + 1)
    )
    imagenet_url = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"

    # style 10: with random weights, 1 left the seed examples' texture almost unchanged (docs/transfer.md)
    style_weight: float = 10.0
    content_layers: dict[str, float] = ranged(default_factory=lambda: {"conv4_2": 1.0}, minimum=0)
    style_layers: dict[str, float] = ranged(
        default_factory=lambda: dict.fromkeys(("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"), 1.0), minimum=0
    )


@dataclass(frozen=True)
class ResNet50Options(ImageBackboneOptions):
    layers = ("stem", "layer1", "layer2", "layer3", "layer4")
    imagenet_url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"

    content_layers: dict[str, float] = ranged(default_factory=lambda: {"layer3": 1.0}, minimum=0)
    style_layers: dict[str, float] = ranged(
        default_factory=lambda: dict.fromkeys(("stem", "layer1", "layer2", "layer3", "layer4"), 1.0), minimum=0
    )


@dataclass(frozen=True)
class ViTB16Options(ImageBackboneOptions):
    layers = tuple(f"encoder_layer_{index}" for index in range(12))
    imagenet_url = "https://download.pytorch.org/models/vit_b_16-c867db91.pth"

    content_layers: dict[str, float] = ranged(default_factory=lambda: {"encoder_layer_5": 1.0}, minimum=0)
    style_layers: dict[str, float] = ranged(
        default_factory=lambda: dict.fromkeys(("encoder_layer_0", "encoder_layer_2", "encoder_layer_5"), 1.0), minimum=0
    )


# The backbone types a config may name (workflow_scripts.transfer.backbones.BACKBONES registers the same names; tested).
BACKBONE_OPTIONS: dict[str, type[BackboneOptions]] = {
    "random_cnn": RandomCNNOptions,
    "vgg19": VGG19Options,
    "resnet50": ResNet50Options,
    "vit_b_16": ViTB16Options,
}
