"""One stylised mel rendered to its audio file and summary: the work of a vocode job for one pair, and of a batched
vocode job for each of a style's pairs (``transfer.batch_pairs > 0``, docs/gpu.md)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from workflow_scripts.audio.audio_io import save_audio
from workflow_scripts.pipeline.artifacts import write_json
from workflow_scripts.pipeline.runtime import job_usage
from workflow_scripts.vocoders.base import Vocoder

# Peak ceiling of written audio: vocoders can overshoot full scale; quieter output is left as it is.
PEAK_CEILING = 0.999


def render_file(
    vocoder: Vocoder,
    mel: str | os.PathLike,
    wav: str | os.PathLike,
    summary: str | os.PathLike,
    start: float,
    subtype: str,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Render the features in ``mel`` (``.npy``) to ``wav`` at the vocoder's sample rate as libsndfile's
    ``subtype`` (``options.OUTPUT_FORMATS``), peaks above :data:`PEAK_CEILING` scaled down, and write ``summary``
    (JSON): ``seconds`` since ``start`` (a ``time.perf_counter()`` value), the device, the peak before scaling, the
    job's usage so far and ``extra``."""
    audio = vocoder(np.load(mel))
    peak = float(np.max(np.abs(audio)))
    if peak > PEAK_CEILING:
        audio = audio * (PEAK_CEILING / peak)
    rate = vocoder.convention.sample_rate
    save_audio(wav, audio, rate, subtype)
    seconds = time.perf_counter() - start
    logging.info("rendered %.2f s of audio in %.1f s on %s", len(audio) / rate, seconds, vocoder.device)
    write_json(summary, {"seconds": seconds, "device": str(vocoder.device), "peak_before": peak, **job_usage(),
                         **(extra or {})})  # fmt: skip
