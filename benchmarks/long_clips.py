"""Long clips: a 5-minute content clip through random_cnn transfer, Griffin-Lim and HiFi-GAN; time and peak memory.

Each case runs in a fresh process so its peak resident memory is its own.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import clip, print_table, run_isolated, source_of
from benchmarks.transfer import GatysEngine
from workflow_scripts.conventions import HIFIGAN
from workflow_scripts.optimise import style_transfer
from workflow_scripts.vocoders import GriffinLim, HiFiGAN, Vocoder

CONTENT_SECONDS = 300.0
STYLE_SECONDS = 10.0


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


def vocoder_case(vocoder: type[Vocoder], content_seconds: float) -> dict[str, Any]:
    features = HIFIGAN.features(clip("content1", HIFIGAN.sample_rate, content_seconds))
    start = time.perf_counter()
    audio = vocoder(vocoder.Options())(features, progress=False)
    seconds = time.perf_counter() - start
    assert len(audio) == features.shape[1] * HIFIGAN.hop_length  # full length, nothing squashed
    return {"case": f"{vocoder.__name__} (default options)", "frames": features.shape[1], "steps": "",
            "seconds": seconds, "s/step": "", "style loss": ""}  # fmt: skip


def run(content_seconds: float = CONTENT_SECONDS) -> None:
    rows = [run_isolated(transfer_case, content_seconds)]
    rows += [run_isolated(vocoder_case, vocoder, content_seconds) for vocoder in (GriffinLim, HiFiGAN)]
    print_table(
        f"Long clip: {content_seconds:g} s content ({source_of('content1')}, tiled), {STYLE_SECONDS:g} s style, "
        "hifigan convention, config.yaml's transfer options",
        rows,
    )
