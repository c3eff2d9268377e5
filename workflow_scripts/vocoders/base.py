"""The interface every vocoder implements: features of one mel convention -> waveform at that convention's sample
rate. The vocoders by name are :data:`workflow_scripts.vocoders.registry.VOCODERS`."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from workflow_scripts.audio.conventions import MelConvention, get_convention
from workflow_scripts.pipeline.vocoder_options import VocoderOptions


class Vocoder:
    """Interface shared by all vocoders."""

    Options: ClassVar[type[VocoderOptions]] = VocoderOptions

    def __init__(self, options: VocoderOptions, device: torch.device | str = "cpu") -> None:
        self.options = options
        self.device = torch.device(device)
        self.convention: MelConvention = get_convention(options.convention)

    def __call__(self, features: np.ndarray, progress: bool = True) -> np.ndarray:
        """Render ``(n_mels, frames)`` features to ``frames * hop_length`` float32 samples."""
        raise NotImplementedError
