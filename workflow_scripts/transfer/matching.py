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
   frame's ``PATH_CANDIDATES`` most similar candidates finds the path of highest total similarity minus
   ``transition`` x the concatenation cost of each step (0 when a frame repeats the
   previous one or follows it in the style), and each frame's ``k`` frames are its candidates of highest
   similarity minus the cost of following the path's previous frame.
4. **Spectral shape.** A smooth per-band gain (at most ``shape_db``) moves the output's long-term spectrum to the
   style's. With ``voice_db`` > 0 a finer gain (formant resolution, ``ENVELOPE_COEFFICIENTS``) moves the
   voiced output frames' mean spectrum to the style's voiced frames' (a speaker's vocal-tract envelope).
5. **Loudness.** Each frame's energy is set to ``loudness`` x the content's energy (dB) plus ``1 - loudness`` x
   the style energy at the same quantile: 1 keeps the content's dynamics, 0 maps them onto the style's. With
   ``quiet_db`` > 0 the content's share grows to 1 as a frame falls ``quiet_db`` below the content's loud frames,
   so lead-ins, pauses and decay tails stay as quiet as the content has them.

Content frames are processed in blocks (features computed with :data:`FEATURE_CONTEXT` frames of context), so
memory does not grow with the content's length beyond the mels themselves.

Where each step lives: step 1 in :mod:`workflow_scripts.transfer.dictionary` (:func:`style_dictionary`, computed
once per style), steps 2 and 3 here (:func:`register_shift`, :func:`candidates`, :func:`level_candidates`,
:func:`diagonal_mean`, :func:`feature_matching`), step 3's match path in :mod:`workflow_scripts.transfer.match_path`
(:func:`~workflow_scripts.transfer.match_path.path_choice`), steps 4 and 5 and the frame levels the candidates are
narrowed by in :mod:`workflow_scripts.transfer.levels` (:func:`~workflow_scripts.transfer.levels.spectral_shape_gain`,
:func:`~workflow_scripts.transfer.levels.follow_loudness`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from workflow_scripts.audio.conventions import MelConvention
from workflow_scripts.pipeline.options import MatchingOptions
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.dictionary import ENVELOPE_COEFFICIENTS, StyleDictionary, frame_chroma, style_dictionary
from workflow_scripts.transfer.levels import follow_loudness, relative_level_db, silent_frames, spectral_shape_gain
from workflow_scripts.transfer.match_path import PATH_CANDIDATES, path_choice
from workflow_scripts.transfer.precision import autocast

# Content frames matched together (memory: block x dictionary frames similarities).
MATCH_BLOCK = 512
# Frames of context on each side of a block when its features are computed, so that a backbone's receptive field
# (the random CNN's kernel, a pooling window) sees the same neighbours as on the whole clip.
FEATURE_CONTEXT = 32


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
    silent matches audible dictionary frames only (:func:`~workflow_scripts.transfer.levels.silent_frames`). With
    ``unvoiced_any_shift``, an unvoiced content frame may match every copy, not only the unshifted style."""
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
    frames, :func:`~workflow_scripts.transfer.levels.relative_level_db`). A loud content frame then takes loud
    style frames, a decay tail quiet ones, and a frame with no candidate left keeps the nearest."""
    distance = torch.abs(target_level[:, None] - dictionary_level[None, :]).masked_fill(~allowed, float("inf"))
    nearest = distance.min(dim=1, keepdim=True).values
    return allowed & (distance <= nearest + tolerance_db)


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
        dictionary: ``style``'s :func:`~workflow_scripts.transfer.dictionary.style_dictionary`, when already
            computed (several contents, one style).
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
