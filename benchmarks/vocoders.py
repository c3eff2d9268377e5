"""Neural vocoders: HiFi-GAN real-time factor and round-trip error beside Griffin-Lim's; fast WaveNet generation
against wavenet_vocoder's own ``incremental_forward`` with the same (random) weights."""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.common import clip, print_table, source_of, timed
from workflow_scripts.audio.conventions import HIFIGAN, WAVENET
from workflow_scripts.metrics.metrics import log_mel_error_db
from workflow_scripts.vocoders.griffinlim import GriffinLim
from workflow_scripts.vocoders.registry import HiFiGAN, WaveNetVocoder
from workflow_scripts.vocoders.wavenet import LOG_SCALE_MIN, FastWaveNet, render
from workflow_scripts.vocoders.wavenet_checkpoint import build_wavenet


def vocoder_rows(seconds: float = 10.0, device: str = "cpu") -> list[dict[str, Any]]:
    """Griffin-Lim (100 iterations) and HiFi-GAN on a ``seconds`` clip on ``device``: the first call's time (what a
    job pays once: model load, library loading, FFT plans, cuBLAS / cuDNN set-up), the warm time (best of two
    later calls), real-time factor (warm) and round-trip log-mel error."""
    audio = clip("content2", HIFIGAN.sample_rate, seconds)
    features = HIFIGAN.features(audio)
    rows = []
    for name, make in [
        ("griffinlim (100 it.)", lambda: GriffinLim(GriffinLim.Options(), device)),
        ("hifigan universal", lambda: HiFiGAN(HiFiGAN.Options(), device)),
        ("hifigan lj", lambda: HiFiGAN(HiFiGAN.Options(checkpoint="lj"), device)),
    ]:
        first, vocoder = timed(make, device=device)
        first += timed(lambda v=vocoder: v(features, progress=False), device=device)[0]
        elapsed, rendered = timed(lambda v=vocoder: v(features, progress=False), repeat=2, device=device)
        rows.append(
            {
                "vocoder": name,
                "first call s (load included)": first,
                "seconds": elapsed,
                "real-time factor (audio s / compute s)": seconds / elapsed,
                "round-trip log-mel error dB": log_mel_error_db(rendered, features, HIFIGAN),
            }
        )
    return rows


def hifigan_section(seconds: float = 10.0) -> None:
    print_table(
        f"HiFi-GAN vs Griffin-Lim, {seconds:g} s clip ({source_of('content2')}), {torch.get_num_threads()} threads, "
        "audio -> mel -> vocoder -> mel (hifigan convention, 80 dB range)",
        vocoder_rows(seconds),
    )


def wavenet_rows(seconds: float = 5.0, incremental_frames: int = 8, device: str = "cpu") -> list[dict[str, Any]]:
    """``incremental_forward`` on ``incremental_frames`` frames, then FastWaveNet on a ``seconds`` utterance, all on
    ``device`` with the same random weights (r9y9 20180510 architecture)."""
    torch.manual_seed(0)
    model = build_wavenet()
    model.make_generation_fast_()
    model.eval().to(device)
    features = torch.from_numpy(WAVENET.features(clip("content2", WAVENET.sample_rate, seconds)))
    frames = features.shape[1]

    incremental_samples = incremental_frames * WAVENET.hop_length  # ~2000 samples: it runs at ~93 samples/s on CPU
    conditioning = features[None, :, :incremental_frames].to(device)
    with torch.no_grad():
        slow_s, _ = timed(
            lambda: model.incremental_forward(c=conditioning, T=incremental_samples, log_scale_min=LOG_SCALE_MIN),
            device=device,
        )
    slow_rate = incremental_samples / slow_s
    rows = [{"generator": "wavenet_vocoder incremental_forward", "samples": incremental_samples,
             "seconds": slow_s, "samples/s": slow_rate, "speed-up": 1.0}]  # fmt: skip
    defaults = WaveNetVocoder.Options()
    for dtype, chunk in [(torch.bfloat16, defaults.chunk), (torch.bfloat16, 4 * defaults.chunk),
                         (torch.float32, defaults.chunk)]:  # fmt: skip
        fast = FastWaveNet(model, dtype)
        fast_s, audio = timed(lambda f=fast, c=chunk: render(f, features, c, defaults.fade), device=device)
        rate = len(audio) / fast_s
        rows.append({"generator": f"FastWaveNet {str(dtype).removeprefix('torch.')}, chunk {chunk}",
                     "samples": frames * WAVENET.hop_length, "seconds": fast_s, "samples/s": rate,
                     "speed-up": rate / slow_rate})  # fmt: skip
    return rows


def wavenet_section(seconds: float = 5.0, incremental_frames: int = 8) -> None:
    print_table(
        f"WaveNet (r9y9 20180510 architecture, random weights), {torch.get_num_threads()} threads; "
        f"fast path on a {seconds:g} s utterance, fade {WaveNetVocoder.Options().fade}; target speed-up >= 20",
        wavenet_rows(seconds, incremental_frames),
    )


def run() -> None:
    hifigan_section()
    wavenet_section()
