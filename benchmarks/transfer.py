"""Style transfer speed: the project's default engine against the published recipe, and achieved GFLOP/s.

The two engines optimise in different spaces (the reference: 1025 linear ``log1p`` bins; the project: mel bands
in the vocoder's convention), so their results are compared on the audio each renders with its own Griffin-Lim,
in a common space: the published objective computed on the evaluation mel
(:data:`~workflow_scripts.audio.conventions.EVALUATION`, the space of every metric), i.e. ``log(1 + mel magnitude)``
through one random layer of 4096 filters of width 11 with a seed neither engine uses. Its relative Gram loss
against the style clip is the "common style loss". Beside it: the same loss in the reference's own space (its
1025 linear bins, again an unused seed), and the metrics' texture distance and content preservation. Time to reach
the reference's final common style loss is found by rendering the project's snapshot after every step, outside the
timed optimisation.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import ulyanov_reference
from benchmarks.common import clip, print_table, source_of, timed
from workflow_scripts.audio.conventions import EVALUATION, get_convention
from workflow_scripts.audio.pitch import f0_track
from workflow_scripts.metrics.families.texture import texture_distance, texture_statistics
from workflow_scripts.metrics.families.timing import content_preservation
from workflow_scripts.metrics.metrics import evaluation_db, evaluation_frame_rate
from workflow_scripts.pipeline.settings import load_pipeline
from workflow_scripts.report.spectrogram_image import spectrogram_panels
from workflow_scripts.transfer import gatys
from workflow_scripts.transfer.backbones import RandomCNN, backbone_from_params
from workflow_scripts.transfer.interface import Content, Setup, StyleClip
from workflow_scripts.transfer.losses import GramTarget
from workflow_scripts.transfer.methods import transfer_pair
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.style_statistics import style_targets
from workflow_scripts.vocoders.registry import HiFiGAN, vocoder_from_params

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
FIGURE = Path("bench_out/transfer.png")
SECONDS = 10.0
COMMON_SEED = 2016  # the common space's network; the engines use their own seeds (0 by default)


class GatysEngine:
    """``random_cnn`` Gatys optimisation (``method: gatys``, the default before feature matching) with config.yaml's
    backbone and optimiser options, rendered by its Griffin-Lim vocoder."""

    def __init__(self) -> None:
        pipeline = load_pipeline(yaml.safe_load(CONFIG.read_text()))
        self.params = pipeline.backbones["random_cnn"].params()
        self.transfer = pipeline.transfer
        self.options = dataclasses.replace(pipeline.transfer, method="gatys")
        vocoder = pipeline.vocoders["griffinlim"]
        self.convention = get_convention(vocoder.options.convention)
        self.vocoder = vocoder_from_params(vocoder.params())
        self.description = ", ".join(f"{k} {v}" for k, v in self.params.items() if k not in ("type", "weights"))

    def unit_mel(self, audio: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.convention.unit_mel(audio))

    def backbone(self) -> RandomCNN:
        return backbone_from_params(self.params, self.convention.n_mels)

    def render(self, unit_mel: torch.Tensor) -> np.ndarray:
        return self.vocoder(self.convention.from_unit(unit_mel).numpy(), progress=False)


class CommonSpace:
    """Measures rendered audio against the content and style clips (see the module docstring)."""

    def __init__(self, content: np.ndarray, style: np.ndarray, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        # RandomCNN sees log(1 + amplitude); on the evaluation (hifigan) unit scale that amplitude is the mel magnitude
        self.network = RandomCNN(RandomCNN.Options(filters=4096, width=11, seed=COMMON_SEED), EVALUATION.n_mels)
        self.content_db = evaluation_db(content, sample_rate)
        self.style_texture = texture_statistics(evaluation_db(style, sample_rate), evaluation_frame_rate())
        content_spectrogram = ulyanov_reference.spectrogram(content)
        self.frames = content_spectrogram.shape[1]
        self.recipe = ulyanov_reference.Network(
            content_spectrogram, ulyanov_reference.spectrogram(style)[:, : self.frames], COMMON_SEED
        )
        with torch.no_grad():
            self.style_target = GramTarget(self._features(style), form="gram")

    def _features(self, audio: np.ndarray) -> torch.Tensor:
        unit = torch.from_numpy(EVALUATION.unit_mel(audio))
        return self.network(unit[None])["relu"]

    def style_loss(self, audio: np.ndarray) -> float:
        with torch.no_grad():
            return float(self.style_target.loss(self._features(audio)))

    def recipe_style_loss(self, audio: np.ndarray) -> float:
        spectrogram = ulyanov_reference.spectrogram(audio)[:, : self.frames]
        with torch.no_grad():
            return float(self.recipe.style_loss(spectrogram) / torch.sum(self.recipe.style_gram**2))

    def measure(self, audio: np.ndarray) -> dict[str, float]:
        db = evaluation_db(audio, self.sample_rate)
        texture = texture_statistics(db, evaluation_frame_rate())
        return {
            "common style loss": self.style_loss(audio),
            "style loss, recipe space": self.recipe_style_loss(audio),
            "texture distance dB": texture_distance(texture, self.style_texture),
            "content preservation": content_preservation(self.content_db, db)["content_preservation"],
        }


def run_default_engine(engine: GatysEngine, content: np.ndarray, style: np.ndarray) -> tuple[Any, list]:
    snapshots: list[tuple[dict[str, float], torch.Tensor]] = []
    backbone = engine.backbone()
    (result,) = gatys.transfer(
        [Content(engine.unit_mel(content).numpy())],
        StyleClip.from_mel(backbone, engine.unit_mel(style).numpy()),
        Setup.of(backbone, engine.convention, engine.options, progress=False),
        on_step=lambda row, mel: snapshots.append((row, mel.clone())),
    )
    return result, snapshots


def time_to_reach(target: float, snapshots: list, engine: GatysEngine, common: CommonSpace) -> float | None:
    """Optimisation seconds until the rendered snapshot's common style loss is at most ``target``."""
    for row, mel in snapshots:
        if common.style_loss(engine.render(mel)) <= target:
            return row["seconds"]
    return None


def speed_section(seconds: float = SECONDS) -> None:
    rate = ulyanov_reference.FRAMING.sample_rate
    content, style = clip("content2", rate, seconds), clip("style2", rate, seconds)
    common = CommonSpace(content, style, rate)
    engine = GatysEngine()

    reference = ulyanov_reference.transfer(content, style)
    reference_audio = ulyanov_reference.render(reference.log_spectrogram)
    project, snapshots = run_default_engine(engine, content, style)
    project_audio = engine.render(torch.from_numpy(project.unit_mel))

    scores = {"content (unchanged)": common.measure(content), "reference": common.measure(reference_audio),
              "project": common.measure(project_audio)}  # fmt: skip
    reference_scores, project_scores = scores["reference"], scores["project"]
    target = reference_scores["common style loss"]
    reach = time_to_reach(target, snapshots, engine, common)
    rows = [
        {"engine": "content clip itself (no transfer)", "optimisation s": "", "steps": "",
         **scores["content (unchanged)"], "s to reference's common style loss": "", "speed-up": ""},
        {"engine": "reference (published recipe)", "optimisation s": reference.seconds, "steps": reference.iterations,
         **reference_scores, "s to reference's common style loss": reference.seconds, "speed-up": 1.0},
        {"engine": "project gatys (config.yaml)", "optimisation s": project.seconds, "steps": len(project.history),
         **project_scores, "s to reference's common style loss": reach if reach is not None else "not reached",
         "speed-up": reference.seconds / reach if reach is not None else "-"},
    ]  # fmt: skip
    print_table(
        f"Style transfer, random CNN: published recipe (1025 linear bins, 4096 filters, explicit Gram, "
        f"{ulyanov_reference.ITERATIONS} L-BFGS-B iterations) vs project gatys ({engine.description}; "
        f"up to {engine.options.iterations} L-BFGS steps); {seconds:g} s content2 ({source_of('content2')}) "
        f"in the style of {seconds:g} s style2, {torch.get_num_threads()} threads. Measured on each engine's "
        "Griffin-Lim audio (benchmarks/transfer.py: lower losses and texture distance, higher content preservation "
        "are better)",
        rows,
    )
    panels = [
        ("content", common.content_db),
        ("style", evaluation_db(style, rate)),
        (f"reference, {reference.seconds:.0f} s", evaluation_db(reference_audio, rate)),
        (f"project gatys, {project.seconds:.1f} s", evaluation_db(project_audio, rate)),
    ]
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    spectrogram_panels(FIGURE, panels, evaluation_frame_rate(), "Style transfer: published recipe vs project")
    print(f"\nSpectrograms: {FIGURE}")


def matmul_peak_gflops(dtype: torch.dtype, size: int = 2048, repeat: int = 5, device: str = "cpu") -> float:
    """Best measured ``size x size`` matrix product throughput on ``device``: its practical ceiling."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    best, _ = timed(lambda: a @ b, repeat + 1, device)  # the first call also warms up
    return 2 * size**3 / best / 1e9


def throughput(evaluate: Any, repeat: int = 3, device: str = "cpu") -> tuple[float, float]:
    """(GFLOP per evaluation, best seconds per evaluation) of a loss + gradient evaluation on ``device``."""
    with FlopCounterMode(display=False) as counter:
        evaluate()
    best, _ = timed(evaluate, repeat + 1, device)  # the first call also warms up
    return counter.get_total_flops() / 1e9, best


def efficiency_section(seconds: float = SECONDS) -> None:
    rate = ulyanov_reference.FRAMING.sample_rate
    content, style = clip("content2", rate, seconds), clip("style2", rate, seconds)
    engine = GatysEngine()
    backbone = engine.backbone()
    content_mel, style_mel = engine.unit_mel(content), engine.unit_mel(style)
    objective = Objective(backbone, content_mel, style_targets(backbone, style_mel))
    mel = content_mel.clone().requires_grad_(True)

    def project_evaluation() -> None:
        mel.grad = None
        objective(mel)[0].backward()

    spectrogram = ulyanov_reference.spectrogram(content)
    network = ulyanov_reference.Network(spectrogram, ulyanov_reference.spectrogram(style))
    spectrogram.requires_grad_(True)

    def reference_evaluation() -> None:
        spectrogram.grad = None
        network.loss(spectrogram).backward()

    peak = matmul_peak_gflops(torch.float32)
    rows = []
    for name, evaluate in [("reference", reference_evaluation), ("project gatys", project_evaluation)]:
        gflop, elapsed = throughput(evaluate)
        rows.append({"engine": name, "GFLOP / evaluation": gflop, "s / evaluation": elapsed,
                     "GFLOP/s": gflop / elapsed, "% of fp32 matmul peak": 100 * gflop / elapsed / peak})  # fmt: skip
    rows.append({"engine": "fp32 matmul 2048^3 (peak)", "GFLOP / evaluation": "", "s / evaluation": "",
                 "GFLOP/s": peak, "% of fp32 matmul peak": 100.0})  # fmt: skip
    bf16 = matmul_peak_gflops(torch.bfloat16)
    rows.append({"engine": "bf16 matmul 2048^3", "GFLOP / evaluation": "", "s / evaluation": "",
                 "GFLOP/s": bf16, "% of fp32 matmul peak": 100 * bf16 / peak})  # fmt: skip
    print_table(
        f"Achieved throughput of one loss + gradient evaluation ({seconds:g} s clip; FLOPs counted by "
        f"torch.utils.flop_counter), {torch.get_num_threads()} threads",
        rows,
    )


def per_output_section(seconds: float = SECONDS) -> None:
    """Wall time of one output's transfer in the pipeline: the knn default (both clips' F0, as the pitch rule
    computes it, plus the matching) against gatys (the previous default), and HiFi-GAN rendering beside them."""
    engine = GatysEngine()
    rate = engine.convention.sample_rate
    content, style = clip("content2", rate, seconds), clip("style2", rate, seconds)
    content_mel, style_mel = engine.unit_mel(content), engine.unit_mel(style)
    backbone = engine.backbone()
    targets = style_targets(backbone, style_mel)
    times = {}
    start = time.perf_counter()
    f0 = [f0_track(audio, rate, engine.convention.frame_times(mel.shape[1]))[0]
          for audio, mel in ((content, content_mel), (style, style_mel))]  # fmt: skip
    times["pitch"] = time.perf_counter() - start
    knn = transfer_pair(
        "knn",
        Content(content_mel.numpy(), f0[0]),
        StyleClip(targets, style_mel.numpy(), f0[1]),
        Setup.of(backbone, engine.convention, engine.transfer, progress=False),
    )
    setup = Setup.of(backbone, engine.convention, engine.options, progress=False)
    optimised = transfer_pair("gatys", Content(content_mel.numpy()), StyleClip(targets), setup)
    hifigan = HiFiGAN(HiFiGAN.Options())
    render_s, _ = timed(lambda: hifigan(engine.convention.from_unit_array(knn.unit_mel), False))
    knn_s = times["pitch"] + knn.seconds
    rows = [
        {"per output": f"gatys, {len(optimised.history)} L-BFGS steps (previous default)",
         "transfer s": optimised.seconds, "+ HiFi-GAN s": optimised.seconds + render_s, "x previous": 1.0},
        {"per output": "knn: F0 of both clips (rule pitch)", "transfer s": times["pitch"], "+ HiFi-GAN s": "",
         "x previous": ""},
        {"per output": "knn: matching (default)", "transfer s": knn.seconds, "+ HiFi-GAN s": "", "x previous": ""},
        {"per output": "knn default, total", "transfer s": knn_s, "+ HiFi-GAN s": knn_s + render_s,
         "x previous": (knn_s + render_s) / (optimised.seconds + render_s)},
    ]  # fmt: skip
    print_table(
        f"Time per output, {seconds:g} s content2 ({source_of('content2')}) in the style of {seconds:g} s style2, "
        f"random_cnn, {torch.get_num_threads()} threads (pitch is per clip in the pipeline, counted here in full)",
        rows,
    )


def run() -> None:
    per_output_section()
    efficiency_section()
    speed_section()
