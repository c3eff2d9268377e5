"""The GPU targets (docs/gpu.md), measured where CUDA is visible; elsewhere the same code on the CPU at a reduced size,
so that it is known to run (the targets apply to a GPU only; the CPU rows say nothing about them).

On a GPU the job runtime's settings are applied first (:func:`workflow_scripts.transfer.device.configure_cuda`: IEEE
float32, deterministic algorithms), as in the pipeline's jobs. Sized for a short GPU session: every table in under 3
minutes on an H100 / H200, the short tables first, each long table under a time budget (:data:`TABLE_BUDGET_S`; rows
past it are listed as skipped, not measured).

0. Start-up: the CUDA context (the first CUDA call of a process).
1. Vocoders (first, so that their first calls are the process's first FFT and convolution calls): the first call
   (model load, libraries, FFT plans, cuDNN set-up: what a job pays once) apart from the warm time. HiFi-GAN
   >= 500x real time; Griffin-Lim, 100 iterations, >= 200x; FastWaveNet >= 20x wavenet_vocoder's
   ``incremental_forward`` (both on the device).
2. knn matching of a 10 s pair, first call and warm: target under 0.1 s warm.
   Optimiser: kernels and host synchronisations per L-BFGS step (:mod:`benchmarks.optimiser`; CUDA kernels there).
3. Transfer: L-BFGS steps (``tolerance 0``, so exactly that many) of every backbone on a content clip, after a
   one-step warm-up: ``lbfgs`` and ``lbfgs_device`` in float32, ``lbfgs_device`` in bfloat16, and for random_cnn
   ``lbfgs_device`` without determinism (its cost). Targets on a 10 s clip, 100 steps: random_cnn under 0.5 s,
   every backbone under 3 s.
4. Throughput of one objective evaluation (forward and backward) of each backbone: FLOPs counted by
   ``torch.utils.flop_counter``, achieved TFLOP/s against the measured 4096^3 matrix-product peak in bf16 and fp32
   (IEEE and, on a GPU, TF32).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from benchmarks import optimiser
from benchmarks.common import clip, print_table, source_of, synchronize, timed
from benchmarks.transfer import matmul_peak_gflops, throughput
from benchmarks.vocoders import vocoder_rows, wavenet_rows
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.pipeline.options import PRECISIONS, TransferOptions
from workflow_scripts.transfer.backbones import BACKBONES
from workflow_scripts.transfer.device import configure_cuda
from workflow_scripts.transfer.interface import Content, Setup, StyleClip
from workflow_scripts.transfer.methods import transfer_pair
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.transfer.style_statistics import style_targets

# seconds for `steps` L-BFGS steps on a 10 s clip (issue 20's targets)
STEP_TARGETS = {"random_cnn": 0.5, "vgg19": 3.0, "resnet50": 3.0, "vit_b_16": 3.0}
# Seconds a long table may take on a GPU before its remaining rows are skipped.
TABLE_BUDGET_S = 60.0
# (optimizer, precision, deterministic) of the transfer rows; the last only for random_cnn (the cost of determinism)
TRANSFER_CASES = (("lbfgs", "float32", True), ("lbfgs_device", "float32", True), ("lbfgs_device", "bfloat16", True))
NONDETERMINISTIC_CASE = ("lbfgs_device", "float32", False)
HIFIGAN_TARGET, GRIFFINLIM_TARGET, WAVENET_TARGET = 500.0, 200.0, 20.0
PEAK_SIZE = 4096


@dataclasses.dataclass(frozen=True)
class Scale:
    device: str
    seconds: float  # content clip (transfer) and vocoder clip
    steps: int
    wavenet_seconds: float
    incremental_frames: int


GPU = Scale("cuda", 10.0, 100, 10.0, 16)
# About two minutes on the 2-core development CPU: enough to run every line of the GPU path.
CPU_FALLBACK = Scale("cpu", 2.0, 3, 0.5, 2)


@contextlib.contextmanager
def determinism(enabled: bool) -> Iterator[None]:
    """Deterministic algorithms on or off for the block (configure_cuda turns them on for the job)."""
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic = before[1]


@contextlib.contextmanager
def tf32_products() -> Iterator[None]:
    before = torch.backends.cuda.matmul.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.fp32_precision = before


def unit_mel(name: str, seconds: float) -> torch.Tensor:
    return torch.from_numpy(HIFIGAN.unit_mel(clip(name, HIFIGAN.sample_rate, seconds)))


def within_budget(cases: list[Any], measure: Callable[[Any], dict], budget: float | None) -> list[dict]:
    """``measure(case)`` for each case until ``budget`` seconds have passed (no limit when None); the cases left
    over get a row saying so."""
    start, rows = time.perf_counter(), []
    for index, case in enumerate(cases):
        if budget is not None and time.perf_counter() - start > budget:
            rows.append({"skipped (time budget spent)": ", ".join(map(str, cases[index:]))})
            break
        rows.append(measure(case))
    return rows


def transfer_rows(scale: Scale) -> list[dict]:
    content, style = unit_mel("content2", scale.seconds).numpy(), unit_mel("style2", 10.0)
    cases = [(kind, *case) for kind in BACKBONES for case in TRANSFER_CASES]
    if scale.device == "cuda":
        cases.insert(len(TRANSFER_CASES), ("random_cnn", *NONDETERMINISTIC_CASE))
    models: dict[str, tuple] = {}

    def measure(case: tuple) -> dict:
        kind, optimizer, precision, deterministic = case
        if kind not in models:
            models.clear()  # one backbone on the device at a time
            backbone = BACKBONES[kind](BACKBONES[kind].Options(), HIFIGAN.n_mels).to(scale.device)
            models[kind] = backbone, style_targets(backbone, style.to(scale.device))
        backbone, targets = models[kind]
        options = TransferOptions(method="gatys", optimizer=optimizer, iterations=scale.steps, tolerance=0,
                                  precision=precision)  # fmt: skip
        with determinism(deterministic) if scale.device == "cuda" else contextlib.nullcontext():
            warm_up = dataclasses.replace(options, iterations=1)
            for run in (warm_up, options):
                setup = Setup.of(backbone, HIFIGAN, run, scale.device, progress=False)
                result = transfer_pair("gatys", Content(content), StyleClip(targets), setup)
        target = STEP_TARGETS[kind] if (scale.seconds, scale.steps) == (GPU.seconds, GPU.steps) else None
        return {"backbone": kind, "optimizer": optimizer, "precision": precision, "deterministic": deterministic,
                "steps": len(result.history), "seconds": result.seconds, "final total": result.final["total"],
                "target s": target if target else "-", "met": (result.seconds < target) if target else "-"}  # fmt: skip

    return within_budget(cases, measure, TABLE_BUDGET_S if scale.device == "cuda" else None)


def peak_rows(device: str) -> tuple[list[dict], dict[str, float]]:
    peaks = {"fp32 (IEEE)": matmul_peak_gflops(torch.float32, PEAK_SIZE, device=device)}
    if device == "cuda":
        with tf32_products():
            peaks["fp32 as TF32"] = matmul_peak_gflops(torch.float32, PEAK_SIZE, device=device)
    peaks["bf16"] = matmul_peak_gflops(torch.bfloat16, PEAK_SIZE, device=device)
    rows = [{"product": f"matmul {PEAK_SIZE}^3, {name}", "TFLOP/s": gflops / 1000} for name, gflops in peaks.items()]
    return rows, peaks


def throughput_rows(scale: Scale, peaks: dict[str, float]) -> list[dict]:
    content, style = unit_mel("content2", scale.seconds).to(scale.device), unit_mel("style2", 10.0).to(scale.device)
    rows = []
    for kind, backbone_class in BACKBONES.items():
        backbone = backbone_class(backbone_class.Options(), HIFIGAN.n_mels).to(scale.device)
        targets = style_targets(backbone, style)
        for precision in PRECISIONS:
            objective = Objective(backbone, content, targets, FeatureExtractor(backbone, precision))
            mel = content.clone().requires_grad_(True)

            def evaluate(objective: Objective = objective, mel: torch.Tensor = mel) -> None:
                mel.grad = None
                objective(mel)[0].backward()

            gflop, seconds = throughput(evaluate, device=scale.device)
            peak = peaks["bf16"] if precision == "bfloat16" else peaks["fp32 (IEEE)"]
            rows.append({"backbone": kind, "precision": precision, "GFLOP / evaluation": gflop,
                         "s / evaluation": seconds, "TFLOP/s": gflop / seconds / 1000,
                         "% of matmul peak (same precision)": 100 * gflop / seconds / peak})  # fmt: skip
    return rows


def vocoder_target_rows(scale: Scale) -> list[dict]:
    rows = []
    at_scale = scale == GPU
    for row in vocoder_rows(scale.seconds, scale.device):
        target = HIFIGAN_TARGET if row["vocoder"].startswith("hifigan") else GRIFFINLIM_TARGET
        factor = row["real-time factor (audio s / compute s)"]
        rows.append({"case": row["vocoder"], "first call s (load included)": row["first call s (load included)"],
                     "measured (warm)": f"{factor:.1f}x real time", "target": f">= {target:g}x",
                     "met": factor >= target if at_scale else "-"})  # fmt: skip
    fastest = max(wavenet_rows(scale.wavenet_seconds, scale.incremental_frames, scale.device)[1:],
                  key=lambda row: row["speed-up"])  # fmt: skip
    met = fastest["speed-up"] >= WAVENET_TARGET if at_scale else "-"
    rows.append({"case": f"{fastest['generator']} vs incremental_forward",
                 "first call s (load included)": "-",
                 "measured (warm)": f"{fastest['speed-up']:.1f}x ({fastest['samples/s']:.0f} samples/s)",
                 "target": f">= {WAVENET_TARGET:g}x", "met": met})  # fmt: skip
    return rows


def matching_rows(scale: Scale) -> list[dict]:
    """knn transfer (matching only, the default) of a content clip in the style of a 10 s clip: first call and warm
    (best of two later calls). F0 is a constant 180 / 220 Hz, so the pitch tracker's time is not in it."""
    content, style = unit_mel("content2", scale.seconds).numpy(), unit_mel("style2", 10.0).numpy()
    f0s = [np.full(mel.shape[1], hz, np.float32) for mel, hz in ((content, 180.0), (style, 220.0))]
    backbone = BACKBONES["random_cnn"](BACKBONES["random_cnn"].Options(), HIFIGAN.n_mels).to(scale.device)
    targets = style_targets(backbone, torch.from_numpy(style).to(scale.device))
    options = TransferOptions()

    def transfer() -> None:
        setup = Setup.of(backbone, HIFIGAN, options, scale.device, progress=False)
        transfer_pair("knn", Content(content, f0s[0]), StyleClip(targets, style, f0s[1]), setup)

    first, _ = timed(transfer, device=scale.device)
    warm, _ = timed(transfer, repeat=2, device=scale.device)
    at_scale = scale == GPU
    return [{"case": f"knn matching, {scale.seconds:g} s pair, random_cnn", "first call s": first, "warm s": warm,
             "target": "< 0.1 s", "met": warm < 0.1 if at_scale else "-"}]  # fmt: skip


def run() -> None:
    scale = GPU if torch.cuda.is_available() else CPU_FALLBACK
    where = "on the CPU: no CUDA device, so the reduced-size fallback; the targets apply to a GPU only"
    if scale.device == "cuda":
        start = time.perf_counter()
        torch.zeros(1, device="cuda")
        synchronize("cuda")
        where = f"on {torch.cuda.get_device_name()}; CUDA context {time.perf_counter() - start:.2f} s"
        configure_cuda(deterministic=True)
    print(f"\nGPU section {where}; {scale.seconds:g} s clips ({source_of('content2')}), {scale.steps} L-BFGS steps")
    print_table(
        f"Vocoders: {scale.seconds:g} s clip; WaveNet on {scale.wavenet_seconds:g} s, incremental_forward on "
        f"{scale.incremental_frames} frames",
        vocoder_target_rows(scale),
    )
    print_table("knn matching", matching_rows(scale))
    if scale.device == "cuda":  # on a CPU the counts are make bench optimiser's
        optimiser.run()
    print_table(f"Transfer: {scale.steps} L-BFGS steps from the content, 10 s style, defaults", transfer_rows(scale))
    peaks_table, peaks = peak_rows(scale.device)
    print_table("Matrix-product peaks (measured)", peaks_table)
    print_table(f"Throughput of one objective evaluation, {scale.seconds:g} s clip", throughput_rows(scale, peaks))
