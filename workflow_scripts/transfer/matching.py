"""Feature-matching transfer: every content frame is rebuilt from its nearest style frames (as kNN-VC does).

kNN-VC (Baas, van Niekerk & Kamper 2023) replaces each source frame's features by the mean of its k nearest
reference frames. Here the features are a backbone's
(:meth:`~workflow_scripts.transfer.backbones.Backbone.frame_features`) and the frames are mel frames, so the result is
a mel made of the style's own spectra. Matching alone would also take the style's pitch (a frame is nearest to style
frames at a similar pitch, and a style rarely holds every note of the content), so it is pitch-constrained:

1. **Dictionary.** The style mel is pitch-shifted by every whole semitone in ``-max_shift .. +max_shift``
   (mel -> magnitude by NNLS, frequency axis scaled, back to mel); each copy's frames carry the style's F0 times
   the shift. With ``envelope: keep`` only the fine structure (harmonics) moves: the spectral envelope (formants,
   body resonances) stays where the style has it, as in source-filter pitch shifting.
2. **Register.** The content's F0 is transposed by whole octaves (or semitones) towards the style's register:
   the octave that puts most voiced content frames inside the dictionary's pitch range.
3. **Matching.** A voiced content frame may only match dictionary frames within ``tolerance_cents`` of its
   (transposed) F0, or the nearest available pitch when none is that close; an unvoiced frame matches the
   unshifted style; a style frame of silence only matches content frames that are silent too. Among those, the
   ``k`` frames of highest cosine similarity win, the similarity averaged over ``continuity`` frames along each
   diagonal (Driedger et al.'s "Let it Bee" continuity: runs of consecutive style frames beat isolated ones).
   With ``harmony`` > 0 the similarity also counts the chroma agreement of the two frames (weighted by
   ``harmony``), and an unvoiced content frame (a chord, which a monophonic pitch tracker does not follow) may
   match every pitch-shifted copy. With ``level_db`` > 0 candidates are also narrowed by level (each clip's frame
   energy relative to its loud frames): loud content frames take loud style frames, quiet ones (decay tails,
   lead-ins) quiet ones, within ``level_db`` of the nearest level available. The output frame is the mean of the
   ``k`` frames (unit-scale mel). With ``transition`` > 0 the frames are chosen along a path instead
   (concatenative synthesis's unit selection, kNN-SVC's concatenation smoothness): a Viterbi search over each
   frame's :data:`PATH_CANDIDATES` most similar candidates finds the path of highest total similarity minus
   ``transition`` x the concatenation cost of each step (:func:`concatenation_cost`: 0 when a frame repeats the
   previous one or follows it in the style), and each frame's ``k`` frames are its candidates of highest
   similarity minus the cost of following the path's previous frame.
4. **Spectral shape.** A smooth per-band gain (at most ``shape_db``) moves the output's long-term spectrum to the
   style's. With ``voice_db`` > 0 a finer gain (formant resolution, :data:`ENVELOPE_COEFFICIENTS`) moves the
   voiced output frames' mean spectrum to the style's voiced frames' (a speaker's vocal-tract envelope).
5. **Loudness.** Each frame's energy is set to ``loudness`` x the content's energy (dB) plus ``1 - loudness`` x
   the style energy at the same quantile: 1 keeps the content's dynamics, 0 maps them onto the style's. With
   ``quiet_db`` > 0 the content's share grows to 1 as a frame falls ``quiet_db`` below the content's loud frames,
   so lead-ins, pauses and decay tails stay as quiet as the content has them.

Content frames are processed in blocks (features computed with :data:`FEATURE_CONTEXT` frames of context), so
memory does not grow with the content's length beyond the mels themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

from workflow_scripts.audio.conventions import UNIT_DB_RANGE, MelConvention, mel_to_magnitude
from workflow_scripts.pipeline.options import MatchingOptions
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.precision import autocast

# Content frames matched together (memory: block x dictionary frames similarities).
MATCH_BLOCK = 512
# Frames of context on each side of a block when its features are computed, so that a backbone's receptive field
# (the random CNN's kernel, a pooling window) sees the same neighbours as on the whole clip.
FEATURE_CONTEXT = 32
# Iterations of the mel -> magnitude least squares behind the pitch shifts.
SHIFT_NNLS_ITERATIONS = 100
# DCT coefficients of the log magnitude kept as a frame's spectral envelope (``envelope: keep``). 20 of 513 bins
# resolve formants but not harmonics above 100 Hz; 40 let a violin's harmonics into the envelope, and a pitch
# shift then kept them (F0 correlation of piano in the style of violin 0.72; docs/quality.md).
ENVELOPE_COEFFICIENTS = 20
# DCT coefficients of the spectral-shape gain: smooth across bands, so it changes timbre, not individual partials.
SHAPE_COEFFICIENTS = 6
# A frame more than this far below its clip's loud frames (95th percentile of frame energy) is silence. A style's
# silent frames are matched only by silent content frames: the loudness step would otherwise lift a silent,
# spectrally flat frame by 60 dB or more into a broadband burst (seen on speech in the style of a clip with digital
# silence in it; docs/quality.md).
SILENCE_DB = 50.0
# Candidates per content frame in the Viterbi search of ``transition`` (the most similar allowed frames): enough
# runs of consecutive style frames to choose from, few enough that a step's cost matrix stays small.
PATH_CANDIDATES = 16


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


def register_shift(content_f0: np.ndarray, low_hz: float, high_hz: float, mode: str, style_median: float) -> float:
    """Semitones by which to transpose the content's F0 (NaN = unvoiced) towards the style's register.

    ``octaves``: the whole number of octaves that puts most voiced content frames inside ``low_hz .. high_hz``
    (ties: the one nearest the style's median); ``semitones``: the whole semitones from the content's median F0
    to ``style_median``; ``none``: 0. Returns 0 when either clip has no voiced frames.
    """
    voiced = content_f0[np.isfinite(content_f0)]
    if mode == "none" or voiced.size == 0 or not np.isfinite(style_median):
        return 0.0
    towards = 12.0 * np.log2(style_median / np.median(voiced))
    if mode == "semitones":
        return float(np.round(towards))
    octaves = np.arange(-4, 5)
    coverage = [np.mean((voiced * 2.0**o >= low_hz) & (voiced * 2.0**o <= high_hz)) for o in octaves]
    best = max(zip(coverage, -np.abs(12.0 * octaves - towards), octaves, strict=True))
    return float(12 * best[2])


def candidates(
    target_f0: torch.Tensor,
    dictionary_f0: torch.Tensor,
    unshifted: torch.Tensor,
    tolerance: float,
    silent_target: torch.Tensor | None = None,
    audible: torch.Tensor | None = None,
    unvoiced_any_shift: bool = False,
) -> torch.Tensor:
    """Boolean ``(frames, dictionary)``: which dictionary frames each content frame may match (module docstring).

    With ``silent_target`` (per content frame) and ``audible`` (per dictionary frame), a content frame that is not
    silent matches audible dictionary frames only (:func:`silent_frames`). With ``unvoiced_any_shift``, an
    unvoiced content frame may match every copy, not only the unshifted style."""
    cents = 1200.0 * torch.abs(torch.log2(target_f0[:, None] / dictionary_f0[None, :]))
    cents = torch.nan_to_num(cents, nan=float("inf"))
    nearest = cents.min(dim=1, keepdim=True).values
    allowed = cents <= nearest + tolerance
    voiced = torch.isfinite(target_f0)[:, None] & torch.isfinite(nearest)
    unvoiced_allowed = torch.ones_like(unshifted) if unvoiced_any_shift else unshifted
    allowed = torch.where(voiced, allowed, unvoiced_allowed[None, :].expand_as(allowed))
    if silent_target is None or audible is None or not bool((audible & unshifted).any()):
        return allowed
    return allowed & (audible[None, :] | silent_target[:, None])


def level_candidates(
    allowed: torch.Tensor, target_level: torch.Tensor, dictionary_level: torch.Tensor, tolerance_db: float
) -> torch.Tensor:
    """``allowed`` (``(frames, dictionary)``) narrowed to dictionary frames whose level is within ``tolerance_db``
    of the nearest level an allowed frame has to the content frame's (levels in dB relative to each clip's loud
    frames, :func:`relative_level_db`). A loud content frame then takes loud style frames, a decay tail quiet
    ones, and a frame with no candidate left keeps the nearest."""
    distance = torch.abs(target_level[:, None] - dictionary_level[None, :]).masked_fill(~allowed, float("inf"))
    nearest = distance.min(dim=1, keepdim=True).values
    return allowed & (distance <= nearest + tolerance_db)


def relative_level_db(unit_mel: torch.Tensor) -> torch.Tensor:
    """Each frame's :func:`frame_energy_db` relative to the clip's loud frames (95th percentile), ``(frames,)``."""
    energy = frame_energy_db(unit_mel)
    return energy - torch.quantile(energy, 0.95)


def silent_frames(unit_mel: torch.Tensor) -> torch.Tensor:
    """Boolean per frame: more than :data:`SILENCE_DB` below the clip's 95th percentile of frame energy."""
    energy = frame_energy_db(unit_mel)
    return energy < torch.quantile(energy, 0.95) - SILENCE_DB


def diagonal_mean(similarity: torch.Tensor, copies: int, width: int) -> torch.Tensor:
    """Mean of ``similarity[t + d, j + d]`` over ``|d| <= width``, within each dictionary copy (zero padded,
    divided by the number of terms present). ``similarity`` is ``(frames, copies * style_frames)``."""
    if width == 0:
        return similarity
    frames = similarity.shape[0]
    grid = similarity.reshape(frames, copies, -1)
    total, count = torch.zeros_like(grid), torch.zeros_like(grid)
    style_frames = grid.shape[2]
    for d in range(-width, width + 1):
        t0, t1 = max(0, -d), min(frames, frames - d)
        j0, j1 = max(0, -d), min(style_frames, style_frames - d)
        if t1 > t0 and j1 > j0:
            total[t0:t1, :, j0:j1] += grid[t0 + d : t1 + d, :, j0 + d : j1 + d]
            count[t0:t1, :, j0:j1] += 1.0
    return (total / count.clamp(min=1.0)).reshape(frames, -1)


def frame_energy_db(unit_mel: torch.Tensor) -> torch.Tensor:
    """Energy of each frame in dB: ``10 log10`` of the mean mel power (as the metrics' envelope)."""
    db = unit_mel * UNIT_DB_RANGE
    return 10.0 * torch.log10(torch.mean(10.0 ** (db / 10.0), dim=0))


def quantile_map(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each value replaced by the ``reference`` value at the same quantile (rank order kept)."""
    ranks = torch.argsort(torch.argsort(values)).to(reference.dtype) / max(len(values) - 1, 1)
    return torch.quantile(reference, ranks)


def spectral_shape_gain(
    output: torch.Tensor, style: torch.Tensor, limit_db: float, smoothness: int = SHAPE_COEFFICIENTS
) -> torch.Tensor:
    """Smooth per-band gain (unit scale, ``(n_mels, 1)``) moving the output's band means towards the style's:
    the difference of their mean spectra (each relative to its overall mean) keeps ``smoothness`` DCT
    coefficients across bands and is clamped to ``limit_db``."""
    difference = (style.mean(dim=1) - style.mean()) - (output.mean(dim=1) - output.mean())
    coefficients = scipy.fft.dct(difference.cpu().numpy(), norm="ortho")
    coefficients[smoothness:] = 0.0
    smooth = torch.from_numpy(scipy.fft.idct(coefficients, norm="ortho")).to(output)
    return smooth.clamp(-limit_db / UNIT_DB_RANGE, limit_db / UNIT_DB_RANGE)[:, None]


def concatenation_cost(
    previous: torch.Tensor, following: torch.Tensor, features: torch.Tensor, style_frames: int
) -> torch.Tensor:
    """Cost of following each dictionary frame of ``previous`` (``(..., P)`` indices) by each of ``following``
    (``(..., F)``), ``(..., P, F)``: one minus the cosine similarity of the following frame's features to those of
    the previous frame itself or of the frame after it in its copy (the last frame of a copy is its own
    successor), whichever is closer. 0 when the following frame repeats the previous one or continues the style
    from it, small when it sounds like either. ``features`` is ``(channels, dictionary)``, unit norm per frame,
    copies one after the other."""
    successor = torch.where((previous + 1) % style_frames == 0, previous, previous + 1)
    following_features = features[:, following].movedim(0, -1).transpose(-1, -2)
    continued = features[:, successor].movedim(0, -1) @ following_features
    repeated = features[:, previous].movedim(0, -1) @ following_features
    return 1.0 - torch.maximum(continued, repeated)


def best_path(scores: torch.Tensor, costs: torch.Tensor) -> torch.Tensor:
    """Viterbi: the candidate per frame, ``(frames,)``, that maximises the sum of ``scores`` (``(frames, C)``,
    ``-inf`` for a candidate ruled out) minus the sum of ``costs`` (``(frames - 1, C, C)``: from candidate ``i`` of
    frame ``t`` to candidate ``j`` of frame ``t + 1``). Ties go to the lower index."""
    total, back = scores[0], []
    for t in range(1, scores.shape[0]):
        best, arg = (total[:, None] - costs[t - 1]).max(dim=0)
        total = best + scores[t]
        back.append(arg)
    path = [int(total.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return torch.tensor(path[::-1], device=scores.device)


def path_choice(
    scores: torch.Tensor, indices: torch.Tensor, features: torch.Tensor, style_frames: int, transition: float, k: int
) -> torch.Tensor:
    """Dictionary frames ``(frames, k)`` chosen along a match path (module docstring, step 3): ``scores`` and
    ``indices`` are each frame's candidates' similarities and dictionary indices ``(frames, C)``. The path is the
    :func:`best_path` with ``transition`` x :func:`concatenation_cost` per step; each frame then takes its ``k``
    candidates of highest similarity minus ``transition`` x the cost of following the path's previous frame (the
    first frame: of being followed by the path's second)."""
    previous, following = indices[:-1], indices[1:]
    steps = [
        concatenation_cost(previous[lo : lo + MATCH_BLOCK], following[lo : lo + MATCH_BLOCK], features, style_frames)
        for lo in range(0, len(previous), MATCH_BLOCK)
    ]
    costs = transition * torch.cat(steps) if steps else scores.new_zeros((0, indices.shape[1], indices.shape[1]))
    path = indices.gather(1, best_path(scores, costs)[:, None])
    follow = concatenation_cost(path[:-1], indices[1:], features, style_frames)[:, 0]
    lead = concatenation_cost(indices[:1], path[1:2], features, style_frames)[..., 0]  # the first frame: into the path
    rescored = scores - transition * torch.cat([lead, follow])
    return indices.gather(1, rescored.topk(k, dim=1).indices)


@dataclass(frozen=True)
class StyleDictionary:
    """The style's frames at every pitch shift and what matching needs of them (steps 1 and 2 of the module
    docstring): computed once per style, whatever the number of contents matched against it."""

    mels: torch.Tensor  # (copies, n_mels, style_frames) unit-scale
    features: torch.Tensor  # (channels, copies * style_frames), unit norm
    f0: torch.Tensor  # (copies * style_frames,) Hz, NaN where unvoiced
    unshifted: torch.Tensor  # (copies * style_frames,) the frames of shift 0
    audible: torch.Tensor  # (copies * style_frames,) frames that are not silence (:func:`silent_frames`)
    low: float  # register (Hz) the dictionary covers
    high: float
    median: float  # the style's median F0
    chroma: torch.Tensor | None = None  # (12, copies * style_frames) :func:`frame_chroma`, when ``harmony`` > 0
    level: torch.Tensor | None = None  # (copies * style_frames,) :func:`relative_level_db`

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


def feature_matching(
    content: torch.Tensor,
    style: torch.Tensor,
    content_f0: np.ndarray,
    style_f0: np.ndarray,
    backbone: Backbone,
    convention: MelConvention,
    options: MatchingOptions,
    precision: str = "float32",
    dictionary: StyleDictionary | None = None,
) -> torch.Tensor:
    """Unit-scale mel with ``content``'s shape, rebuilt from ``style``'s frames (module docstring).

    Args:
        content, style: unit-scale mels ``(n_mels, frames)`` on the backbone's device.
        content_f0, style_f0: F0 per mel frame in Hz, NaN where unvoiced (:mod:`workflow_scripts.audio.pitch`).
        backbone: gives the features frames are matched by.
        convention: the mels' convention (for the pitch shifts).
        options: matching options.
        precision: of the features and their similarity products (:mod:`workflow_scripts.transfer.precision`).
        dictionary: ``style``'s :func:`style_dictionary`, when already computed (several contents, one style).
    """
    device = content.device
    dictionary = (dictionary or style_dictionary(style, style_f0, backbone, convention, options, precision)).to(device)
    copies, _, style_frames = dictionary.mels.shape
    dictionary_features, dictionary_f0, unshifted = dictionary.features, dictionary.f0, dictionary.unshifted
    shift = register_shift(content_f0, dictionary.low, dictionary.high, options.transpose, dictionary.median)
    target_f0 = torch.as_tensor(content_f0, dtype=torch.float32, device=device) * 2.0 ** (shift / 12.0)

    k = min(options.k, copies * style_frames)
    frames = content.shape[1]
    halo = options.continuity
    flat_dictionary = dictionary.mels.permute(1, 0, 2).reshape(dictionary.mels.shape[1], -1)
    silent = silent_frames(content)
    level = relative_level_db(content)
    harmony = options.harmony > 0 and dictionary.chroma is not None
    content_chroma = frame_chroma(content, convention) if harmony else None
    output = torch.empty_like(content)
    candidates_kept = min(PATH_CANDIDATES, copies * style_frames)
    path_scores = content.new_empty((frames, candidates_kept))
    path_indices = torch.empty((frames, candidates_kept), dtype=torch.long, device=device)
    for start in range(0, frames, MATCH_BLOCK):
        stop = min(start + MATCH_BLOCK, frames)
        lo, hi = max(0, start - halo), min(frames, stop + halo)
        with torch.no_grad(), autocast(device, precision):
            context_lo, context_hi = max(0, lo - FEATURE_CONTEXT), min(frames, hi + FEATURE_CONTEXT)
            features = backbone.frame_features(content[:, context_lo:context_hi])[:, lo - context_lo : hi - context_lo]
            products = F.normalize(features.float(), dim=0).T @ dictionary_features
        if harmony:
            products = products.float() + options.harmony * (content_chroma[:, lo:hi].T @ dictionary.chroma)
        similarity = diagonal_mean(products.float(), copies, halo)
        similarity = similarity[start - lo : stop - lo]
        allowed = candidates(target_f0[start:stop], dictionary_f0, unshifted, options.tolerance_cents,
                             silent[start:stop], dictionary.audible, unvoiced_any_shift=harmony)  # fmt: skip
        if options.level_db > 0 and dictionary.level is not None:
            allowed = level_candidates(allowed, level[start:stop], dictionary.level, options.level_db)
        if options.transition > 0:  # keep each frame's best candidates for the path search after the loop
            top = similarity.masked_fill(~allowed, -float("inf")).topk(candidates_kept, dim=1)
            path_scores[start:stop], path_indices[start:stop] = top.values, top.indices
            continue
        chosen = similarity.masked_fill(~allowed, -float("inf")).topk(k, dim=1).indices
        output[:, start:stop] = flat_dictionary[:, chosen].mean(dim=2)
    if options.transition > 0:
        chosen = path_choice(path_scores, path_indices, dictionary_features, style_frames, options.transition, k)
        output = flat_dictionary[:, chosen].mean(dim=2)

    if options.shape_db > 0:
        output = output + spectral_shape_gain(output, style, options.shape_db)
    voiced, style_voiced = (torch.as_tensor(np.isfinite(f0), device=device) for f0 in (content_f0, style_f0))
    if options.voice_db > 0 and voiced.any() and style_voiced.any():
        gain = spectral_shape_gain(output[:, voiced], style[:, style_voiced], options.voice_db, ENVELOPE_COEFFICIENTS)
        output[:, voiced] += gain
    return follow_loudness(output, content, style, options.loudness, options.quiet_db)


def follow_loudness(
    output: torch.Tensor, content: torch.Tensor, style: torch.Tensor, loudness: float, quiet_db: float = 0.0
) -> torch.Tensor:
    """``output`` with each frame's energy set to ``w`` x the content's (dB) plus ``1 - w`` x the style's energy at
    the same quantile (all unit-scale mels). ``w`` is ``loudness``; with ``quiet_db`` > 0 it rises linearly to 1
    as the content frame falls from the content's loud frames (95th percentile of frame energy) to ``quiet_db``
    below them: quiet passages and decay tails keep the content's level."""
    content_energy = frame_energy_db(content)
    weight = torch.full_like(content_energy, loudness)
    if quiet_db > 0:
        below = (torch.quantile(content_energy, 0.95) - content_energy).clamp(min=0.0)
        weight = loudness + (1.0 - loudness) * (below / quiet_db).clamp(max=1.0)
    target = weight * content_energy + (1.0 - weight) * quantile_map(content_energy, frame_energy_db(style))
    return output + ((target - frame_energy_db(output)) / UNIT_DB_RANGE)[None, :]
