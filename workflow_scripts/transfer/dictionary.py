"""The style dictionary of feature matching (steps 1 and 2 of :mod:`workflow_scripts.transfer.matching`): the
style's frames at every whole-semitone pitch shift, with their features, F0, silence, level and chroma, computed
once per style whatever the number of contents matched against it."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from workflow_scripts.audio.conventions import MelConvention, mel_to_magnitude
from workflow_scripts.pipeline.options import MatchingOptions
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.levels import relative_level_db, silent_frames
from workflow_scripts.transfer.precision import autocast

# Iterations of the mel -> magnitude least squares behind the pitch shifts.
SHIFT_NNLS_ITERATIONS = 100
# DCT coefficients of the log magnitude kept as a frame's spectral envelope (``envelope: keep``). 20 of 513 bins
# resolve formants but not harmonics above 100 Hz; 40 let a violin's harmonics into the envelope, and a pitch
# shift then kept them (F0 correlation of piano in the style of violin 0.72; docs/quality.md).
ENVELOPE_COEFFICIENTS = 20


def pitch_shift(
    unit_mel: torch.Tensor, convention: MelConvention, semitones: list[int], keep_envelope: bool = False
) -> torch.Tensor:
    """Copies of a unit-scale mel shifted by each of ``semitones``, ``(len(semitones), n_mels, frames)``.

    The mel is turned into a linear magnitude (NNLS), its frequency axis scaled by ``2 ** (s / 12)`` (linear
    interpolation between bins, nothing above Nyquist) and projected back onto the mel filterbank. With
    ``keep_envelope``, only the magnitude divided by its :func:`spectral_envelope` is scaled, and multiplied back
    by the unscaled envelope. Shift 0 is the input itself, untouched.
    """
    magnitude = mel_to_magnitude(convention.to_mel(convention.from_unit(unit_mel)), convention, SHIFT_NNLS_ITERATIONS)
    envelope = spectral_envelope(magnitude) if keep_envelope else torch.ones_like(magnitude)
    magnitude = magnitude / envelope
    bins = magnitude.shape[0]
    basis = convention.mel_basis(unit_mel.device)
    copies = []
    for shift in semitones:
        if shift == 0:
            copies.append(unit_mel)
            continue
        source = torch.arange(bins, device=unit_mel.device, dtype=torch.float32) / 2.0 ** (shift / 12.0)
        low = source.floor().long().clamp(max=bins - 1)
        weight = (source - low)[:, None]
        high = (low + 1).clamp(max=bins - 1)
        shifted = envelope * ((1.0 - weight) * magnitude[low] + weight * magnitude[high])
        copies.append(convention.to_unit(convention.compression.compress(basis @ shifted)))
    return torch.stack(copies)


def spectral_envelope(magnitude: torch.Tensor) -> torch.Tensor:
    """Smooth envelope of a linear magnitude ``(bins, frames)``: the exponential of its log magnitude with all but
    the first :data:`ENVELOPE_COEFFICIENTS` DCT coefficients (along frequency) set to zero (cepstral liftering)."""
    log_magnitude = torch.log(magnitude + 1e-5).cpu().numpy()
    coefficients = scipy.fft.dct(log_magnitude, axis=0, norm="ortho")
    coefficients[ENVELOPE_COEFFICIENTS:] = 0.0
    smooth = scipy.fft.idct(coefficients, axis=0, norm="ortho")
    return torch.from_numpy(np.exp(smooth)).to(device=magnitude.device, dtype=magnitude.dtype)


def frame_chroma(unit_mel: torch.Tensor, convention: MelConvention) -> torch.Tensor:
    """Chroma of each frame of a unit-scale mel, centred and unit-norm per frame, ``(12, frames)``: the dot product
    of two frames' chroma is their Pearson correlation (0 for a silent or flat frame).

    The mel is turned into a linear magnitude (NNLS, as for the pitch shifts) and summed into pitch classes with
    librosa's STFT chroma filterbank (A440), which weights the octaves around C5 most.
    """
    import librosa

    magnitude = mel_to_magnitude(convention.to_mel(convention.from_unit(unit_mel)), convention, SHIFT_NNLS_ITERATIONS)
    filterbank = librosa.filters.chroma(sr=convention.sample_rate, n_fft=convention.n_fft, tuning=0.0)
    chroma = torch.from_numpy(filterbank).to(magnitude) @ magnitude
    return F.normalize(chroma - chroma.mean(dim=0, keepdim=True), dim=0)


@dataclass(frozen=True)
class StyleDictionary:
    """The style's frames at every pitch shift and what matching needs of them (steps 1 and 2 of
    :mod:`workflow_scripts.transfer.matching`): computed once per style, whatever the number of contents matched
    against it."""

    mels: torch.Tensor  # (copies, n_mels, style_frames) unit-scale
    features: torch.Tensor  # (channels, copies * style_frames), unit norm
    f0: torch.Tensor  # (copies * style_frames,) Hz, NaN where unvoiced
    unshifted: torch.Tensor  # (copies * style_frames,) the frames of shift 0
    audible: torch.Tensor  # (copies * style_frames,) frames that are not silence (:func:`~.levels.silent_frames`)
    low: float  # register (Hz) the dictionary covers
    high: float
    median: float  # the style's median F0
    chroma: torch.Tensor | None = None  # (12, copies * style_frames) :func:`frame_chroma`, when ``harmony`` > 0
    level: torch.Tensor | None = None  # (copies * style_frames,) :func:`~.levels.relative_level_db`

    def to(self, device: torch.device) -> StyleDictionary:
        """This dictionary with its tensors on ``device`` (one built on the CPU may serve a GPU job)."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return replace(self, **{name: value.to(device) for name, value in values.items() if torch.is_tensor(value)})


def style_dictionary(
    style: torch.Tensor,
    style_f0: np.ndarray,
    backbone: Backbone,
    convention: MelConvention,
    options: MatchingOptions,
    precision: str = "float32",
) -> StyleDictionary:
    """The :class:`StyleDictionary` of a unit-scale style mel (on the backbone's device) with its F0 per frame;
    features computed in ``precision`` (:mod:`workflow_scripts.transfer.precision`)."""
    device = style.device
    semitones = list(range(-options.max_shift, options.max_shift + 1))
    dictionary = pitch_shift(style, convention, semitones, options.envelope == "keep")  # (copies, n_mels, frames)
    copies, _, style_frames = dictionary.shape
    with torch.no_grad(), autocast(device, precision):
        dictionary_features = F.normalize(
            torch.cat([backbone.frame_features(copy) for copy in dictionary], dim=1).float(), dim=0
        )
    style_f0_t = torch.as_tensor(style_f0, dtype=torch.float32, device=device)
    ratios = 2.0 ** (torch.tensor(semitones, dtype=torch.float32, device=device) / 12.0)
    dictionary_f0 = (ratios[:, None] * style_f0_t[None, :]).reshape(-1)
    voiced_style = style_f0[np.isfinite(style_f0)]
    low, high = (
        (np.percentile(voiced_style, 5) / 2 ** (options.max_shift / 12),
         np.percentile(voiced_style, 95) * 2 ** (options.max_shift / 12))
        if voiced_style.size else (np.nan, np.nan)
    )  # fmt: skip
    style_median = float(np.median(voiced_style)) if voiced_style.size else float("nan")
    unshifted = torch.zeros(copies * style_frames, dtype=torch.bool, device=device)
    zero = semitones.index(0)
    unshifted[zero * style_frames : (zero + 1) * style_frames] = True
    audible = ~silent_frames(style).repeat(copies)  # a pitch shift keeps a frame's loudness
    chroma = frame_chroma(torch.cat(list(dictionary), dim=1), convention) if options.harmony > 0 else None
    level = relative_level_db(style).repeat(copies)
    return StyleDictionary(dictionary, dictionary_features, dictionary_f0, unshifted, audible, low, high, style_median,
                           chroma, level)  # fmt: skip
