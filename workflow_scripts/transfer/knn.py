"""``knn``: rebuild every content frame from its nearest style frames (:mod:`workflow_scripts.transfer.matching`),
then optionally refine the result with the Gatys objective whose content target is the matched mel."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import torch

from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.dictionary import style_dictionary
from workflow_scripts.transfer.interface import Content, Setup, StyleClip, TransferResult
from workflow_scripts.transfer.levels import follow_loudness
from workflow_scripts.transfer.losses import GramTarget
from workflow_scripts.transfer.matching import feature_matching
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.optimise import optimise_batch
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.transfer.windows import WINDOW_OVERLAP, frame_weighted, time_windows


def transfer(contents: Sequence[Content], style: StyleClip, setup: Setup) -> list[TransferResult]:
    """The :data:`~workflow_scripts.transfer.interface.Method` ``knn``: each content matched frame by frame against
    the style's pitch-shifted dictionary (:func:`~workflow_scripts.transfer.matching.feature_matching`; the
    dictionary and its features computed once for the batch), then refined for ``refine_steps`` side by side as
    ``gatys`` solves its problems. Reads every content's F0 and the style's mel and F0.

    Returns:
        Per content, the unit-scale mel and a history whose rows hold the Gatys objective against the *content*
        clip (so the losses compare with ``gatys`` runs): step 0 after matching, then one row after refinement.
        Every result's ``seconds`` is the batch's.
    """
    start = time.perf_counter()
    backbone, convention, options, engine = setup.backbone, setup.convention, setup.options, setup.engine
    features = engine.features(backbone)
    targets = style.targets
    style_t = engine.tensor(style.unit_mel)
    dictionary = style_dictionary(style_t, style.f0, backbone, convention, options, engine.precision)
    content_ts = [engine.tensor(content.unit_mel) for content in contents]
    matched = [feature_matching(content_t, style_t, content.f0, style.f0, backbone, convention, options,
                                engine.precision, dictionary)
               for content_t, content in zip(content_ts, contents, strict=True)]  # fmt: skip
    histories = [[_reported_row(0, backbone, content_t, mel, targets, features, options, start)]
                 for content_t, mel in zip(content_ts, matched, strict=True)]  # fmt: skip
    if options.refine_steps > 0:
        objectives = [Objective(backbone, mel, targets, features) for mel in matched]
        refined = optimise_batch(objectives, features, matched, options.refine_steps, options, start, engine.progress)
        matched = [follow_loudness(mel, content_t, style_t, options.loudness, options.quiet_db)
                   for (mel, _), content_t in zip(refined, content_ts, strict=True)]  # fmt: skip
        for history, content_t, mel in zip(histories, content_ts, matched, strict=True):
            history.append(_reported_row(options.refine_steps, backbone, content_t, mel, targets, features, options,
                                         start))  # fmt: skip
    seconds = time.perf_counter() - start
    return [TransferResult(mel.cpu().numpy(), rows, seconds) for mel, rows in zip(matched, histories, strict=True)]


def _reported_row(
    step: int,
    backbone: Backbone,
    content: torch.Tensor,
    unit_mel: torch.Tensor,
    targets: Mapping[str, GramTarget],
    features: FeatureExtractor,
    options: TransferOptions,
    start: float,
) -> dict[str, float]:
    """The Gatys losses of ``unit_mel`` against ``content`` and the style, reported for a knn result. A clip longer
    than ``window_frames`` is measured window by window (as ``gatys`` optimises it, :func:`frame_weighted`): the
    feature maps of a whole hour would take gigabytes."""
    windows = time_windows(content.shape[1], options.window_frames, WINDOW_OVERLAP)
    rows = [(hi - lo, _row(step, Objective(backbone, content[:, lo:hi], targets, features), unit_mel[:, lo:hi], start))
            for lo, hi in windows]  # fmt: skip
    if len(rows) == 1:
        return rows[0][1]
    return {"step": step, **frame_weighted(rows), "seconds": time.perf_counter() - start}


def _row(step: int, objective: Objective, unit_mel: torch.Tensor, start: float) -> dict[str, float]:
    with torch.no_grad():
        total, content, style = torch.stack(objective(unit_mel)).tolist()
    return {"step": step, "total": total, "content": content, "style": style, "seconds": time.perf_counter() - start}
