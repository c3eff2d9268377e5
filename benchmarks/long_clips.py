"""Long clips: a 5-minute content clip through random_cnn transfer; a 60-minute one through Griffin-Lim and
HiFi-GAN beside a 10 s one; time and peak memory.

Each case runs in a fresh process so its peak resident memory is its own. The vocoder cases read their features
from a file, as the pipeline's vocode step does, so their peak is the vocoding stage's alone (the features of a
60-minute clip are made in a process of their own). :func:`run_transfer` and :func:`run_vocoders` run each half
alone (sections ``long_transfer`` and ``long_vocoders``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import clip, print_table, rss_mb, run_isolated, source_of
from benchmarks.transfer import GatysEngine
from workflow_scripts.conventions import HIFIGAN
from workflow_scripts.optimise import style_transfer
from workflow_scripts.vocoders import GriffinLim, HiFiGAN, Vocoder

CONTENT_SECONDS = 300.0
STYLE_SECONDS = 10.0
# Vocoder cases: a long clip against a short one in the same run; target for HiFi-GAN's long clip: peak RSS under
# 4 GB and time per audio second within 1.5x of the short clip's
VOCODER_SECONDS = (10.0, 3600.0)


def transfer_case(content_seconds: float) -> dict[str, Any]:
    engine = GatysEngine()
    rate = engine.convention.sample_rate
    content = engine.unit_mel(clip("content1", rate, content_seconds))
    style = engine.unit_mel(clip("style2", rate, STYLE_SECONDS))
    result = style_transfer(content.numpy(), style.numpy(), engine.backbone(), engine.options)
    assert result.unit_mel.shape == tuple(content.shape)  # time is never squashed
    return {
        "case": f"random_cnn transfer ({engine.description})",
        "frames": content.shape[1],
        "steps": len(result.history),
        "seconds": result.seconds,
        "s/step": result.seconds / len(result.history),
        "style loss": result.final["style"],
    }


def features_case(content_seconds: float, path: Path) -> dict[str, Any]:
    """Save the hifigan-convention features of the content clip tiled to ``content_seconds`` at ``path``."""
    features = HIFIGAN.features(clip("content1", HIFIGAN.sample_rate, content_seconds))
    np.save(path, features)
    return {"frames": features.shape[1]}


def vocoder_case(vocoder: type[Vocoder], path: Path) -> dict[str, Any]:
    """Render the features saved at ``path`` with ``vocoder``'s default options, as the vocode step does."""
    rendering = vocoder(vocoder.Options())
    features = np.load(path)
    before = rss_mb()  # libraries, model and features: what the rendering starts from
    start = time.perf_counter()
    audio = rendering(features, progress=False)
    seconds = time.perf_counter() - start
    assert len(audio) == features.shape[1] * HIFIGAN.hop_length  # full length, nothing squashed
    audio_seconds = len(audio) / HIFIGAN.sample_rate
    return {"case": f"{vocoder.__name__} (default options)", "audio s": audio_seconds, "frames": features.shape[1],
            "seconds": seconds, "s per audio s": seconds / audio_seconds, "rss_before_mb": before}  # fmt: skip


def run_transfer(content_seconds: float = CONTENT_SECONDS) -> None:
    print_table(
        f"Long clip: {content_seconds:g} s content ({source_of('content1')}, tiled), {STYLE_SECONDS:g} s style, "
        "hifigan convention, config.yaml's transfer options",
        [run_isolated(transfer_case, content_seconds)],
    )


def run_vocoders(durations: tuple[float, ...] = VOCODER_SECONDS) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = {seconds: Path(folder) / f"features_{seconds:g}.npy" for seconds in durations}
        for seconds, path in paths.items():
            run_isolated(features_case, seconds, path)
        for vocoder in (GriffinLim, HiFiGAN):
            cases = [run_isolated(vocoder_case, vocoder, paths[seconds]) for seconds in durations]
            shortest = cases[0]["s per audio s"]
            rows += [{**case, "vs shortest": case["s per audio s"] / shortest} for case in cases]
    print_table(
        f"Long clips through the vocoders: {', '.join(f'{s:g}' for s in durations)} s content "
        f"({source_of('content1')}, tiled), hifigan convention, a fresh process per case",
        rows,
    )


def run() -> None:
    run_transfer()
    run_vocoders()
