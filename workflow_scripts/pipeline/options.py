"""Options shared by the pipeline (trimming, level, runtime, transfer) and the names a config may use: one
definition each. The backbones' and vocoders' options are in :mod:`workflow_scripts.pipeline.backbone_options` and
:mod:`workflow_scripts.pipeline.vocoder_options`.

The configuration check (:mod:`workflow_scripts.pipeline.settings`, run by the Snakefile when Snakemake starts) and the
jobs both use these dataclasses: the check parses a config into them, and each job rebuilds its component from
them. This module, like everything the Snakefile imports, imports nothing heavy (no torch, torchvision or
librosa), so checking a config and planning the DAG cost no more than parsing it; those libraries are imported
only inside jobs. A new option is one typed field with its default here, and its allowed range when it has one
(:func:`~workflow_scripts.pipeline.ranges.ranged`).
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow_scripts.pipeline.ranges import ranged

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
    aggressiveness: int = ranged(2, minimum=0, maximum=3)
    frame_ms: int = 30
    padding_ms: float = ranged(100.0, minimum=0)
    top_db: float = ranged(40.0, minimum=0, exclusive=True)


# --- Level and runtime ---


@dataclass(frozen=True)
class NormaliseSettings:
    """The level every resampled clip is set to.

    Attributes:
        mode: ``peak``, ``rms`` (never lets the peak exceed 0 dBFS) or ``none``.
        target_db: the peak (or RMS) level, dBFS.
    """

    mode: str = "peak"
    target_db: float = ranged(-1.0, maximum=0)


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how the GPU-capable jobs (style_stats, transfer, vocode) run.

    Attributes:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        deterministic: on CUDA, deterministic algorithms (no effect on the CPU; docs/gpu.md).
        threads: torch threads per job (Snakemake ``threads``).
        gpus_per_job: the ``gpu`` resource those jobs declare (0 on CPU-only clusters).
    """

    device: str = "auto"
    deterministic: bool = True
    threads: int = ranged(2, minimum=1)
    gpus_per_job: int = ranged(1, minimum=0)


# --- Transfer methods ---

# The transfer methods by name, each with the inputs it reads besides the contents' mels and the style's
# statistics: ``style`` (the style's mel), ``content_f0`` and ``style_f0`` (F0 per frame, rule pitch). The Snakefile
# plans a transfer job's files from this; workflow_scripts.transfer.methods.METHODS registers the same names (tested).
TRANSFER_METHODS: dict[str, tuple[str, ...]] = {"knn": ("style", "content_f0", "style_f0"), "gatys": ()}

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

    k: int = ranged(4, minimum=1)
    max_shift: int = ranged(6, minimum=0, maximum=24)
    envelope: str = "keep"
    tolerance_cents: float = ranged(50.0, minimum=0, exclusive=True)
    transpose: str = "octaves"
    continuity: int = ranged(6, minimum=0)
    shape_db: float = ranged(6.0, minimum=0)
    loudness: float = ranged(0.5, minimum=0, maximum=1)
    quiet_db: float = ranged(0.0, minimum=0)
    level_db: float = ranged(0.0, minimum=0)
    harmony: float = ranged(0.0, minimum=0)
    transition: float = ranged(0.0, minimum=0)
    voice_db: float = ranged(0.0, minimum=0)


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
    refine_steps: int = ranged(0, minimum=0)
    optimizer: str = "lbfgs"
    iterations: int = ranged(100, minimum=1)
    learning_rate: float = ranged(1.0, minimum=0, exclusive=True)
    init: str = "content"
    seed: int = 0
    history_size: int = ranged(50, minimum=1)
    tolerance: float = ranged(1e-5, minimum=0)
    patience: int = ranged(5, minimum=1)
    window_frames: int = ranged(4096, minimum=128, also=(0,), why="twice the 64 cross-faded frames; 0: off")
    precision: str = "float32"
    compile: bool = False
    batch_pairs: int = ranged(0, minimum=0)
