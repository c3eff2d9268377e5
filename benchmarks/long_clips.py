"""Long clips: a 60-minute content clip beside a 10 s one through each stage of the default path: pitch (CREPE),
transfer (config.yaml's, knn with random_cnn), Griffin-Lim and HiFi-GAN; time per audio second and peak memory.

Each case runs in a fresh process so its peak resident memory is its own, and reads its inputs from files as the
pipeline's jobs do (the inputs of every duration are made first, each in a process of its own), so a peak is one
stage's alone. Targets (issue 15): peak RSS under 4 GB for the 60-minute clip, and time per audio second within
1.5x of the 10 s clip's. :func:`run_transfer` and :func:`run_vocoders` run each half alone (sections
``long_transfer`` and ``long_vocoders``); ``LONG_SECONDS=600`` runs a shorter long clip. :func:`run_windows`
(``long_windows``) compares windowed and whole-clip ``gatys`` on a 60 s clip.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from benchmarks.common import clip, print_table, rss_mb, run_isolated, source_of
from workflow_scripts.audio.audio_io import save_audio
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.audio.pitch import f0_track
from workflow_scripts.pipeline.settings import load_pipeline
from workflow_scripts.transfer.backbones import backbone_from_params
from workflow_scripts.transfer.interface import Content, Setup, StyleClip
from workflow_scripts.transfer.methods import transfer_pair
from workflow_scripts.transfer.style_statistics import style_targets
from workflow_scripts.vocoders.base import Vocoder
from workflow_scripts.vocoders.griffinlim import GriffinLim
from workflow_scripts.vocoders.registry import HiFiGAN

REPO = Path(__file__).resolve().parents[1]
STYLE_SECONDS = 10.0
# a long clip against a short one in the same run
DURATIONS = (10.0, float(os.environ.get("LONG_SECONDS", 3600.0)))


def inputs_case(content_seconds: float, folder: Path) -> dict[str, Any]:
    """Write what the pipeline's jobs would read: the content's audio and hifigan features, the style's features
    and F0 (the style is 10 s in every case)."""
    audio = clip("content1", HIFIGAN.sample_rate, content_seconds)
    save_audio(folder / "content.wav", audio[None], HIFIGAN.sample_rate)
    np.save(folder / "content.npy", HIFIGAN.features(audio))
    style = clip("style2", HIFIGAN.sample_rate, STYLE_SECONDS)
    features = HIFIGAN.features(style)
    np.save(folder / "style.npy", features)
    np.save(folder / "style_f0.npy", f0_track(style, HIFIGAN.sample_rate, HIFIGAN.frame_times(features.shape[1]))[0])
    return {}


def timed(stage: str, audio_seconds: float, work: Any) -> dict[str, Any]:
    before = rss_mb()  # libraries, model and inputs: what the stage starts from
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    return {"stage": stage, "audio s": audio_seconds, "seconds": seconds, "s per audio s": seconds / audio_seconds,
            "rss_before_mb": before}  # fmt: skip


def pitch_case(folder: Path) -> dict[str, Any]:
    """Rule pitch: CREPE F0 at every mel frame of the content, written beside it."""
    from workflow_scripts.audio.audio_io import load_audio

    audio, rate = load_audio(folder / "content.wav")
    frames = HIFIGAN.frames_for(audio.shape[-1])

    def work() -> None:
        np.save(folder / "content_f0.npy", f0_track(audio[0], rate, HIFIGAN.frame_times(frames))[0])

    return timed("pitch (CREPE-tiny)", audio.shape[-1] / rate, work)


def transfer_case(folder: Path) -> dict[str, Any]:
    """Rule transfer with config.yaml's options and random_cnn (style statistics included)."""
    pipeline = load_pipeline(yaml.safe_load((REPO / "config.yaml").read_text()))
    backbone = backbone_from_params(pipeline.backbones["random_cnn"].params(), HIFIGAN.n_mels)
    content, style = (HIFIGAN.to_unit(torch.from_numpy(np.load(folder / f"{n}.npy"))) for n in ("content", "style"))
    content_f0, style_f0 = np.load(folder / "content_f0.npy"), np.load(folder / "style_f0.npy")
    result = {}

    def work() -> None:
        targets = style_targets(backbone, style)
        style_clip = StyleClip(targets, style.numpy(), style_f0)
        setup = Setup.of(backbone, HIFIGAN, pipeline.transfer, progress=False)
        result["mel"] = transfer_pair("knn", Content(content.numpy(), content_f0), style_clip, setup).unit_mel

    row = timed(f"transfer ({pipeline.transfer.method}, random_cnn)", content.shape[1] * HIFIGAN.hop_length
                / HIFIGAN.sample_rate, work)  # fmt: skip
    assert result["mel"].shape == tuple(content.shape)  # time is never squashed
    np.save(folder / "stylised.npy", HIFIGAN.from_unit_array(result["mel"]))
    return row


def vocoder_case(vocoder: type[Vocoder], folder: Path) -> dict[str, Any]:
    """Rule vocode: render the stylised features (the content's when no transfer ran) with ``vocoder``'s default
    options."""
    rendering = vocoder(vocoder.Options())
    stylised = folder / "stylised.npy"
    features = np.load(stylised if stylised.is_file() else folder / "content.npy")
    audio = {}

    def work() -> None:
        audio["samples"] = rendering(features, progress=False)

    row = timed(f"vocode ({vocoder.__name__})", features.shape[1] * HIFIGAN.hop_length / HIFIGAN.sample_rate, work)
    assert len(audio["samples"]) == features.shape[1] * HIFIGAN.hop_length  # full length, nothing squashed
    return row


def run_stages(title: str, stages: list[tuple[Any, ...]]) -> None:
    """Every stage at every duration, each in a fresh process, with its ratio to the shortest clip."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        folders = {seconds: Path(root) / f"{seconds:g}" for seconds in DURATIONS}
        for seconds, folder in folders.items():
            folder.mkdir()
            run_isolated(inputs_case, seconds, folder)
        for stage in stages:
            cases = [run_isolated(*stage, folder) for folder in folders.values()]
            shortest = cases[0]["s per audio s"]
            rows += [{**case, "vs 10 s": case["s per audio s"] / shortest} for case in cases]
    print_table(f"{title}: {', '.join(f'{s:g}' for s in DURATIONS)} s content ({source_of('content1')}, tiled), "
                f"{STYLE_SECONDS:g} s style ({source_of('style2')}), hifigan convention, a fresh process per case; "
                "target for the long clip: peak RSS under 4 GB, s per audio s within 1.5x of 10 s", rows)  # fmt: skip


def run_transfer() -> None:
    run_stages("Long clips, pitch and transfer", [(pitch_case,), (transfer_case,)])


def run_vocoders() -> None:
    run_stages("Long clips, vocoders", [(vocoder_case, GriffinLim), (vocoder_case, HiFiGAN)])


def run() -> None:
    run_stages("Long clips, every stage after the mel", [(pitch_case,), (transfer_case,), (vocoder_case, GriffinLim),
                                                        (vocoder_case, HiFiGAN)])  # fmt: skip
    run_windows()


WINDOWS_SECONDS = 60.0


def windows_case(window_frames: int, folder: Path) -> dict[str, Any]:
    """gatys (random_cnn, config.yaml's options) on a 60 s clip, in windows of ``window_frames`` (0: whole clip);
    the stylised mel is saved for the sheet. Losses are the objective of the whole result against the whole clip."""
    from workflow_scripts.metrics.families.texture import style_match
    from workflow_scripts.metrics.families.timing import content_preservation
    from workflow_scripts.metrics.metrics import decibels, evaluation_frame_rate
    from workflow_scripts.transfer.objective import Objective

    pipeline = load_pipeline(yaml.safe_load((REPO / "config.yaml").read_text()))
    options = dataclasses.replace(pipeline.transfer, method="gatys", window_frames=window_frames)
    backbone = backbone_from_params(pipeline.backbones["random_cnn"].params(), HIFIGAN.n_mels)
    content_features = HIFIGAN.features(clip("content1", HIFIGAN.sample_rate, WINDOWS_SECONDS))
    style_features = HIFIGAN.features(clip("style2", HIFIGAN.sample_rate, STYLE_SECONDS))
    content, style = (HIFIGAN.to_unit(torch.from_numpy(f)) for f in (content_features, style_features))
    targets = style_targets(backbone, style)
    setup = Setup.of(backbone, HIFIGAN, options, progress=False)
    result = transfer_pair("gatys", Content(content.numpy()), StyleClip(targets), setup)
    np.save(folder / f"windows_{window_frames}.npy", result.unit_mel)
    with torch.no_grad():
        total, content_loss, style_loss = Objective(backbone, content, targets)(torch.from_numpy(result.unit_mel))
    content_db, style_db = decibels(content_features, HIFIGAN), decibels(style_features, HIFIGAN)
    output_db = decibels(HIFIGAN.from_unit_array(result.unit_mel), HIFIGAN)
    return {"optimisation": f"windows of {window_frames} frames" if window_frames else "whole clip",
            "frames": content.shape[1], "seconds": result.seconds, "content loss": float(content_loss),
            "style loss": float(style_loss), "total": float(total),
            "style_match (mel)": style_match(content_db, style_db, output_db, evaluation_frame_rate()),
            "envelope corr (mel)": content_preservation(content_db, output_db)["envelope_corr"]}  # fmt: skip


def run_windows() -> None:
    """Windowed against whole-clip gatys on a 60 s clip, and a sheet of both around the first seam."""
    from workflow_scripts.pipeline.options import TransferOptions

    window = TransferOptions().window_frames
    folder = Path("bench_out/long_windows")
    folder.mkdir(parents=True, exist_ok=True)
    rows = [run_isolated(windows_case, frames, folder) for frames in (0, window)]
    print_table(f"Windowed against whole-clip gatys: {WINDOWS_SECONDS:g} s content ({source_of('content1')}, tiled), "
                f"random_cnn, config.yaml's options; losses of the whole result", rows)  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    whole, windowed = (np.load(folder / f"windows_{frames}.npy") for frames in (0, window))
    span = slice(window - 400, window + 300)  # the first cross-fade is the 64 frames before `window`
    figure, axes = plt.subplots(3, 1, figsize=(12, 7))
    panels = (("whole clip", whole), (f"windows of {window}", windowed), ("difference (unit scale, +-0.2)",
                                                                          windowed - whole))  # fmt: skip
    for axis, (label, mel) in zip(axes, panels, strict=True):
        limits = {"vmin": -0.2, "vmax": 0.2, "cmap": "coolwarm"} if label.startswith("difference") else {}
        axis.imshow(mel[:, span], origin="lower", aspect="auto", **limits)
        axis.axvline(400 - 64, color="white", linewidth=0.5)
        axis.axvline(400, color="white", linewidth=0.5)
        axis.set_title(f"{label}: frames {span.start}-{span.stop} (lines: the cross-fade)", fontsize=9)
    figure.tight_layout()
    figure.savefig(folder / "seam.png", dpi=80)
    print(f"\nsheet: {folder}/seam.png")
