"""What the metric families measure of one rendered output: the evaluate step reads its files into an
:class:`OutputAnalysis`; the analyses several families share (log-mels in the evaluation space and in the vocoder's
convention, the rendered audio re-analysed) are computed once, on first use.

torch is imported with the conventions, on first use: the registry and the report import the families, which name
this class, without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from workflow_scripts.audio.conventions import MelConvention

ROLES = ("content", "style")


@dataclass
class OutputAnalysis:
    """One output and what it came from.

    Parameters
    ----------
    output : the rendered audio, mono float32 with its non-finite samples kept (they are counted), and its rate.
    content, style : the conditioned clips at the vocoder convention's rate (rule resample), mono, with their rate.
    stylised : the transfer's result in the vocoder's convention, ``(n_mels, frames)``.
    content_f0 : the content's F0 (Hz, NaN unvoiced) per frame of the evaluation convention (rule pitch).
    kinds : ``content`` and ``style`` -> ``speech`` or ``music`` (which families apply).
    transfer_summary, vocode_summary : the JSON summaries the transfer and vocode jobs wrote.
    """

    output: tuple[np.ndarray, int]
    content: tuple[np.ndarray, int]
    style: tuple[np.ndarray, int]
    stylised: np.ndarray
    content_f0: np.ndarray
    kinds: Mapping[str, str]
    transfer_summary: Mapping[str, Any]
    vocode_summary: Mapping[str, Any]

    @cached_property
    def convention(self) -> MelConvention:
        """The vocoder's mel convention, the one the transfer ran in."""
        from workflow_scripts.audio.conventions import get_convention

        return get_convention(self.transfer_summary["convention"])

    @cached_property
    def audio(self) -> np.ndarray:
        """The rendered audio with NaN and infinite samples set to 0, as every measurement reads it."""
        return np.nan_to_num(self.output[0], nan=0.0, posinf=0.0, neginf=0.0)

    @cached_property
    def clips(self) -> dict[str, tuple[np.ndarray, int]]:
        """``content``, ``style`` and ``output`` (finite) as ``(mono audio, sample_rate)``."""
        return {"content": self.content, "style": self.style, "output": (self.audio, self.output[1])}

    @cached_property
    def spaces(self) -> dict[str, np.ndarray]:
        """The three clips as log-mels (dB) of the fixed evaluation space. When that is the vocoder's convention
        (HiFi-GAN's, and Griffin-Lim's by default), they are :attr:`mels`' clips and :attr:`rendered_db`: the same
        analyses of the same audio, computed once."""
        from workflow_scripts.audio.conventions import EVALUATION
        from workflow_scripts.metrics.metrics import evaluation_db

        if self.convention.name == EVALUATION.name:
            return {"content": self.mels["content"], "style": self.mels["style"], "output": self.rendered_db}
        return {name: evaluation_db(*clip) for name, clip in self.clips.items()}

    @cached_property
    def rendered_features(self) -> np.ndarray:
        """The rendered audio re-analysed in the vocoder's convention (features, not dB)."""
        return self.convention.features(self.audio)

    @cached_property
    def rendered_db(self) -> np.ndarray:
        """:attr:`rendered_features` in dB (the report's panel of the rendered audio)."""
        from workflow_scripts.metrics.metrics import decibels

        return decibels(self.rendered_features, self.convention)

    @cached_property
    def mels(self) -> dict[str, np.ndarray]:
        """``content`` and ``style`` analysed as the mel rule does and ``output``, the stylised mel itself (before
        vocoding), all in dB in the vocoder's convention."""
        from workflow_scripts.metrics.metrics import decibels

        mels = {name: decibels(self.convention.features(getattr(self, name)[0]), self.convention) for name in ROLES}
        return mels | {"output": decibels(self.stylised, self.convention)}
