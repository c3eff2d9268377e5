"""The torchvision image backbones (VGG-19, ResNet-50, ViT-B/16): a mel as a one-channel image, through the shared
input adaptation :func:`mel_to_image`, with random, ImageNet or user weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from workflow_scripts.pipeline.backbone_options import (
    ImageBackboneOptions,
    ResNet50Options,
    VGG19Options,
    ViTB16Options,
)
from workflow_scripts.transfer.backbone_base import Backbone

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def padded_size(size: int, multiple: int, minimum: int) -> int:
    """Smallest length ``>= max(size, minimum)`` that is a multiple of ``multiple``."""
    return math.ceil(max(size, minimum) / multiple) * multiple


def mel_to_image(unit_mel: torch.Tensor, multiple: int = 1, minimum: int = 1) -> torch.Tensor:
    """The one input adaptation of every image backbone: unit-scale mel -> ImageNet-normalised 3-channel image.

    The unit-scale mel (0 is silence, about 1 a loud partial) is read as a grey image with intensities in
    ``[0, 1]``: rows are mel bands (lowest first), columns are frames. It is padded with silence (0) at the high
    frequency edge and at the end of time until both sides are at least ``minimum`` and a multiple of
    ``multiple``, repeated to 3 channels and normalised with the ImageNet mean and standard deviation. Nothing is
    resized, so every frame keeps its own columns; the operation is differentiable and the optimisation variable
    stays the mel itself.

    Args:
        unit_mel: ``(batch, n_mels, frames)``.
        multiple: both sides are padded to a multiple of this (a ViT's patch size).
        minimum: both sides are padded to at least this (the total stride of the deepest layer used).

    Returns:
        ``(batch, 3, height, width)`` with ``height >= n_mels`` and ``width >= frames``.
    """
    _, n_mels, frames = unit_mel.shape
    pad_frames = padded_size(frames, multiple, minimum) - frames
    pad_mels = padded_size(n_mels, multiple, minimum) - n_mels
    grey = nn.functional.pad(unit_mel, (0, pad_frames, 0, pad_mels))
    mean = torch.tensor(IMAGENET_MEAN, device=unit_mel.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=unit_mel.device).view(1, 3, 1, 1)
    return (grey[:, None] - mean) / std


class ImageBackbone(Backbone):
    """A torchvision ImageNet network run on the mel as an image (see :func:`mel_to_image`).

    Subclasses' ``Options`` name their selectable ``layers`` (shallow to deep) and their ImageNet weights file;
    the subclasses say how the input must be padded and keep only the modules up to the deepest selected layer,
    under torchvision's attribute names (so torchvision state dicts load as they are).
    """

    Options: ClassVar[type[ImageBackboneOptions]] = ImageBackboneOptions
    # the torchvision.models constructor of the network
    network: ClassVar[str]
    # Layer whose columns (all channels and rows of one time step) are the frame features for feature matching:
    # a shallow one, for the finest time resolution.
    matching_layer: ClassVar[str]
    multiple: ClassVar[int] = 1
    minimum: ClassVar[int] = 1

    def __init__(self, options: ImageBackboneOptions, n_mels: int) -> None:
        super().__init__(options, n_mels)
        self.content_layers = dict(options.content_layers)
        self.style_layers = dict(options.style_layers)
        self.layers = self.Options.layers
        used = {*self.content_layers, *self.style_layers, self.matching_layer}
        self.depth = 1 + max(self.layers.index(name) for name in used)
        # torchvision initialises from the global generator; seed it without disturbing the caller's stream
        with torch.random.fork_rng():
            torch.manual_seed(options.seed)
            self.keep(self.build())
        self.finish_init()

    def build(self) -> nn.Module:
        """The torchvision network with ``weights=None``."""
        # Imported here, not with the module: torchvision adds about 2 s to the start-up of every transfer and
        # style_stats job, and only the image backbones use it.
        import torchvision

        return getattr(torchvision.models, self.network)(weights=None)

    def keep(self, network: nn.Module) -> None:
        """Keep the modules of ``network`` that the first ``self.depth`` layers need, under their torchvision names."""
        raise NotImplementedError

    def extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature maps ``(batch, channels, rows, columns)`` of the first ``self.depth`` layers (rows: frequency)."""
        raise NotImplementedError

    def batch_forward(self, unit_mels: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.extract(mel_to_image(unit_mels, self.multiple, self.minimum))
        return {name: maps[name].flatten(2) for name in {*self.content_layers, *self.style_layers}}

    def batch_groups(self, frames: Sequence[int]) -> list[tuple[list[int], int]]:
        """Mels whose images have the same width, padded with silence (:func:`mel_to_image`'s own padding) to it.
        Padding further would change the maps: convolutions see the image border, and ViT attends to every token."""
        groups: dict[int, list[int]] = {}
        for index, length in enumerate(frames):
            groups.setdefault(padded_size(length, self.multiple, self.minimum), []).append(index)
        return [(indices, width) for width, indices in groups.items()]

    def frame_features(self, unit_mel: torch.Tensor) -> torch.Tensor:
        """Each frame takes the column of :attr:`matching_layer`'s map (channels x rows) that covers it."""
        image = mel_to_image(unit_mel[None], self.multiple, self.minimum)
        columns = self.extract(image)[self.matching_layer][0].flatten(0, -2)  # (channels * rows, width)
        frames = unit_mel.shape[1]
        covering = torch.arange(frames, device=unit_mel.device) * columns.shape[1] // image.shape[-1]
        return columns[:, covering.clamp(max=columns.shape[1] - 1)]

    def state_dict_for(self, weights: str) -> dict[str, torch.Tensor]:
        if weights == "imagenet":
            # what torchvision's WeightsEnum.get_state_dict does with the same URL: read torch hub's cache
            return torch.hub.load_state_dict_from_url(self.Options.imagenet_url, progress=False)
        return super().state_dict_for(weights)


class VGG19(ImageBackbone):
    """VGG-19 ``features`` (Gatys et al. 2016), cut after the deepest selected layer.

    Layer ``convB_N`` is the ReLU output of the N-th convolution of block B, as in Gatys et al. Max pooling is
    kept as in torchvision.
    """

    Options = VGG19Options
    network = "vgg19"
    matching_layer = "conv2_1"  # after one max-pool: one column per 2 frames
    minimum = 16  # four max-pools before block 5
    # (layer name, index of its ReLU in torchvision's vgg19().features)
    _relus = tuple(zip(Options.layers, (1, 3, 6, 8, 11, 13, 15, 17, 20, 22, 24, 26, 29, 31, 33, 35), strict=True))

    def keep(self, network: nn.Module) -> None:
        self.features = network.features[: self._relus[self.depth - 1][1] + 1]

    def extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {index: name for name, index in self._relus[: self.depth]}
        maps = {}
        for index, module in enumerate(self.features):
            image = module(image)
            if index in outputs:
                maps[outputs[index]] = image
        return maps


class ResNet50(ImageBackbone):
    """ResNet-50: the stem (convolution, batch norm, ReLU, max-pool) and the outputs of ``layer1`` .. ``layer4``.

    Batch norm uses its running statistics (evaluation mode).
    """

    Options = ResNet50Options
    network = "resnet50"
    matching_layer = "stem"  # one column per 4 frames
    minimum = 32  # total stride of layer4

    def keep(self, network: nn.Module) -> None:
        for name in ("conv1", "bn1", "relu", "maxpool", *self.layers[1 : self.depth]):
            setattr(self, name, getattr(network, name))

    def extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        maps = {"stem": x}
        for name in self.layers[1 : self.depth]:
            x = getattr(self, name)(x)
            maps[name] = x
        return maps


class ViTB16(ImageBackbone):
    """ViT-B/16: patch tokens after selected encoder blocks; Gram matrices are taken over tokens.

    The 14 x 14 grid of learned positional embeddings is interpolated (bicubic) to the input's patch grid
    (``n_mels / 16`` x ``frames / 16``, rounded up after padding), so any duration works without resizing
    time. The time axis is padded with silence to a multiple of 16 frames; every token covers at least one real
    frame. The class token takes part in attention but not in the features.
    """

    Options = ViTB16Options
    network = "vit_b_16"
    matching_layer = "encoder_layer_0"  # one column of patch tokens per 16 frames
    multiple = 16  # patch size
    minimum = 16

    def keep(self, network: nn.Module) -> None:
        self.conv_proj = network.conv_proj
        self.class_token = network.class_token
        self.encoder = network.encoder
        self.encoder.layers = self.encoder.layers[: self.depth]
        del self.encoder.ln  # the final norm follows the last block, which is not a selectable layer

    def positional_embedding(self, rows: int, columns: int) -> torch.Tensor:
        """``(1, 1 + rows * columns, hidden)``: the class position and the patch grid resized to ``rows x columns``."""
        embedding = self.encoder.pos_embedding
        side = math.isqrt(embedding.shape[1] - 1)
        if (rows, columns) == (side, side):
            return embedding
        grid = embedding[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = nn.functional.interpolate(grid, size=(rows, columns), mode="bicubic", align_corners=False)
        return torch.cat([embedding[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)

    def extract(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        patches = self.conv_proj(image)  # (batch, hidden, rows, columns)
        class_tokens = self.class_token.expand(patches.shape[0], -1, -1)
        tokens = torch.cat([class_tokens, patches.flatten(2).transpose(1, 2)], dim=1)
        x = self.encoder.dropout(tokens + self.positional_embedding(*patches.shape[-2:]))
        maps = {}
        for name, block in zip(self.layers, self.encoder.layers, strict=False):
            x = block(x)
            maps[name] = x[:, 1:].transpose(1, 2).unflatten(2, patches.shape[-2:])  # (batch, hidden, rows, columns)
        return maps
