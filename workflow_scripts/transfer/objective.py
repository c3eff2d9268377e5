"""The Gatys objective: weighted content and style losses of a backbone against fixed targets, evaluated for one
problem or for several at once (the :data:`~workflow_scripts.transfer.batching.Evaluate` forms the optimisers
take)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from workflow_scripts.transfer.backbones import Backbone
from workflow_scripts.transfer.batching import Evaluate, EvaluateMany, Evaluation
from workflow_scripts.transfer.losses import GramTarget, content_loss
from workflow_scripts.transfer.precision import FeatureExtractor, Maps


class Objective:
    """Weighted content + style loss of a backbone against fixed targets.

    Each of the two losses is the weighted mean over its layers (weights from ``backbone.content_layers`` and
    ``backbone.style_layers``), so it stays relative: 0.01 means 1 % of the target's energy.

    Args:
        backbone: feature extractor.
        content: unit-scale content mel ``(n_mels, frames)``; its features are computed here.
        style_targets: ``{layer: GramTarget}`` for every style layer (see
            :func:`workflow_scripts.transfer.style_statistics.style_targets`), on any device: they are moved to the
            content's.
        features: how the backbone's maps are computed (precision, compilation); default float32, eager.
    """

    def __init__(
        self,
        backbone: Backbone,
        content: torch.Tensor,
        style_targets: Mapping[str, GramTarget],
        features: FeatureExtractor | None = None,
    ) -> None:
        self.backbone = backbone
        self.features = features or FeatureExtractor(backbone)
        with torch.no_grad():
            content_maps = self.features(content)
        self.content_targets = {name: content_maps[name] for name in backbone.content_layers}
        self.style_targets = {name: style_targets[name].to(content.device) for name in backbone.style_layers}

    def __call__(self, unit_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, content, style)`` losses of ``unit_mel`` ``(n_mels, frames)``."""
        return self.losses(self.features(unit_mel))

    def losses(self, maps: Maps) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(total, content, style)`` losses of a mel with feature ``maps``."""
        content = _weighted_mean(
            {n: content_loss(maps[n], t) for n, t in self.content_targets.items()}, self.backbone.content_layers
        )
        style = _weighted_mean(
            {n: target.loss(maps[n]) for n, target in self.style_targets.items()}, self.backbone.style_layers
        )
        options = self.backbone.options
        return options.content_weight * content + options.style_weight * style, content, style


def _weighted_mean(losses: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    return sum(weights[name] * loss for name, loss in losses.items()) / sum(weights[name] for name in losses)


def evaluator(objective: Objective) -> Evaluate:
    """:data:`Evaluate` for one objective, evaluated on its own."""

    def evaluate(point: torch.Tensor, gradient: bool) -> Evaluation:
        if not gradient:
            with torch.no_grad():
                return torch.stack(objective(point)), None
        point = point.detach().requires_grad_(True)
        losses = objective(point)
        (grad,) = torch.autograd.grad(losses[0], point)
        return torch.stack(losses).detach(), grad

    return evaluate


def batch_evaluator(objectives: Sequence[Objective], features: FeatureExtractor) -> EvaluateMany:
    """Evaluates several objectives of one backbone at once: one batched forward pass (:meth:`FeatureExtractor.many`)
    and one backward pass of the summed totals, whose gradient with respect to each point is that point's own
    total's, the problems being independent. Takes and returns ``{problem index: ...}``."""

    def evaluate(requests: Mapping[int, tuple[torch.Tensor, bool]]) -> dict[int, Evaluation]:
        indices = sorted(requests)
        points = [requests[i][0].detach().requires_grad_(requests[i][1]) for i in indices]
        with torch.enable_grad():
            losses = [objectives[i].losses(maps) for i, maps in zip(indices, features.many(points), strict=True)]
            wanted = [(point, loss[0]) for point, loss in zip(points, losses, strict=True) if point.requires_grad]
            grads = iter(torch.autograd.grad(sum(t for _, t in wanted), [p for p, _ in wanted]) if wanted else ())
        return {i: (torch.stack(loss).detach(), next(grads) if point.requires_grad else None)
                for i, point, loss in zip(indices, points, losses, strict=True)}  # fmt: skip

    return evaluate
