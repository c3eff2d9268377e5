"""Long clips: a 5-minute content clip through random_cnn transfer, Griffin-Lim and HiFi-GAN; time and peak memory.

Each case runs in a fresh process so its peak resident memory is its own.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.common import clip, print_table, run_isolated, source_of
from workflow_scripts.backbones import RandomCNN
from workflow_scripts.conventions import HIFIGAN
from workflow_scripts.optimise import TransferOptions, style_transfer
from workflow_scripts.vocoders import GriffinLim, HiFiGAN, Vocoder

CONTENT_SECONDS = 300.0
STYLE_SECONDS = 10.0


def unit_mel(name: str, seconds: float) -> torch.Tensor:
    return HIFIGAN.to_unit(torch.from_numpy(HIFIGAN.features(clip(name, HIFIGAN.sample_rate, seconds))))


def transfer_case(filters: int, iterations: int, content_seconds: float) -> dict[str, Any]:
    content, style = unit_mel("content1", content_seconds), unit_mel("style2", STYLE_SECONDS)
    backbone = RandomCNN(RandomCNN.Options(filters=filters), HIFIGAN.n_mels)
    result = style_transfer(content.numpy(), style.numpy(), backbone, TransferOptions(iterations=iterations))
    assert result.unit_mel.shape == tuple(content.shape)  # time is never squashed
    return {
        "case": f"random_cnn transfer, {filters} filters",
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


def run(iterations: int = 100, content_seconds: float = CONTENT_SECONDS) -> None:
    rows = [run_isolated(transfer_case, 4096, iterations, content_seconds)]
    rows += [run_isolated(vocoder_case, vocoder, content_seconds) for vocoder in (GriffinLim, HiFiGAN)]
    print_table(
        f"Long clip: {content_seconds:g} s content ({source_of('content1')}, tiled), {STYLE_SECONDS:g} s style, "
        f"hifigan convention, default transfer options (up to {iterations} L-BFGS steps)",
        rows,
    )
