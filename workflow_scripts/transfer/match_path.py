"""The match path of feature matching (``transition`` > 0, step 3 of :mod:`workflow_scripts.transfer.matching`):
frames chosen along a Viterbi path over each content frame's best candidates, with a concatenation cost per step,
as concatenative synthesis selects units and kNN-SVC smooths its concatenations."""

from __future__ import annotations

import torch

# Candidates per content frame in the Viterbi search of ``transition`` (the most similar allowed frames): enough
# runs of consecutive style frames to choose from, few enough that a step's cost matrix stays small.
PATH_CANDIDATES = 16
# Steps of the path whose cost matrices are computed together (memory: block x candidates x candidates).
STEP_BLOCK = 512


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
    """Dictionary frames ``(frames, k)`` chosen along a match path (module docstring): ``scores`` and
    ``indices`` are each frame's candidates' similarities and dictionary indices ``(frames, C)``. The path is the
    :func:`best_path` with ``transition`` x :func:`concatenation_cost` per step; each frame then takes its ``k``
    candidates of highest similarity minus ``transition`` x the cost of following the path's previous frame (the
    first frame: of being followed by the path's second)."""
    previous, following = indices[:-1], indices[1:]
    steps = [
        concatenation_cost(previous[lo : lo + STEP_BLOCK], following[lo : lo + STEP_BLOCK], features, style_frames)
        for lo in range(0, len(previous), STEP_BLOCK)
    ]
    costs = transition * torch.cat(steps) if steps else scores.new_zeros((0, indices.shape[1], indices.shape[1]))
    path = indices.gather(1, best_path(scores, costs)[:, None])
    follow = concatenation_cost(path[:-1], indices[1:], features, style_frames)[:, 0]
    lead = concatenation_cost(indices[:1], path[1:2], features, style_frames)[..., 0]  # the first frame: into the path
    rescored = scores - transition * torch.cat([lead, follow])
    return indices.gather(1, rescored.topk(k, dim=1).indices)
