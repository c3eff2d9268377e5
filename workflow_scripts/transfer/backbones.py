"""Feature extractors for Gatys-style transfer on mel spectrograms.

Every backbone maps a unit-scale mel (see :mod:`workflow_scripts.audio.conventions`), shaped ``(1, n_mels, frames)``,
to named feature maps shaped ``(channels, positions)``, and a batch of mels to a batch of maps
(:meth:`Backbone.batch_forward`). Content loss compares the maps named in ``content_layers``; style (Gram) loss
compares those in ``style_layers``. Adding a backbone means writing one
subclass with its options dataclass (in :mod:`workflow_scripts.pipeline.options`, which the configuration check imports
without torch) and registering both. The torchvision image backbones
(VGG-19, ResNet-50, ViT-B/16) derive from :class:`ImageBackbone` and share one input adaptation,
:func:`mel_to_image`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from workflow_scripts.audio.conventions import unit_to_amplitude
from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.pipeline.options import (
    BackboneOptions,
    ImageBackboneOptions,
    RandomCNNOptions,
    ResNet50Options,
    VGG19Options,
    ViTB16Options,
)


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
        return _load_state_dict(weights)


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


# Keyed like options.BACKBONE_OPTIONS, each with its Options class there (tested).
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


def _load_state_dict(path: str) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        raise InputError(f"{path}: backbone weights file not found; fix the path or set weights: random")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise InputError(f"{path}: not a torch state_dict ({type(error).__name__}); re-save it") from None
