"""Content (feature MSE) and style (Gram MSE) losses, both relative to the target's energy.

Relative losses make weights comparable across backbones, layers and mel conventions: a content loss of 0.01
means the features differ by 1 % of the content features' energy; likewise for Gram matrices.

For features ``Y`` (``N`` channels x ``T`` positions) with Gram matrix ``G = Y Y^T / T`` and a style target
``Y_s`` (``N x T_s``), the style loss is ``||G - G_s||_F^2 / ||G_s||_F^2``. Its numerator can be computed as written
(``O(N^2 T)``) or through the identity

    ||G - G_s||^2 = ||Y^T Y||^2 / T^2 - 2 ||Y_s^T Y||^2 / (T T_s) + ||Y_s^T Y_s||^2 / T_s^2

(``O(N T (T + T_s))``), which is much cheaper when there are many channels and few frames. :class:`GramTarget`
picks the cheaper form per layer; both give the same value and gradient.
"""

from __future__ import annotations

import torch


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||Y - Y_c||^2 / ||Y_c||^2``: squared feature difference relative to the target's energy."""
    return torch.sum((features - target) ** 2) / torch.clamp(torch.sum(target**2), min=1e-12)


def gram(features: torch.Tensor) -> torch.Tensor:
    """``Y Y^T / T`` for ``(N, T)`` features."""
    return features @ features.T / features.shape[1]


class GramTarget:
    """Style target of one layer; ``loss(Y)`` is ``||gram(Y) - gram(Y_s)||_F^2 / ||gram(Y_s)||_F^2``.

    Args:
        style_features: ``(N, T_s)`` features of the style clip.
        form: ``"auto"`` (cheaper of the two), ``"gram"`` (explicit Gram matrices) or ``"frames"``
            (frame-product identity).
    """

    def __init__(self, style_features: torch.Tensor, form: str = "auto") -> None:
        if form not in ("auto", "gram", "frames"):
            raise ValueError(f"unknown Gram loss form {form!r}")
        self.form = form
        self.style = style_features.detach()
        self.channels, self.style_frames = self.style.shape
        self._gram = gram(self.style)
        # ||G_s||_F^2, computed in the cheaper of the two forms; it is also the constant term of the identity.
        small = self.style.T @ self.style if self.style_frames < self.channels else self._gram * self.style_frames
        self._style_term = max(float(torch.sum(small**2)) / self.style_frames**2, 1e-12)

    def uses_frames(self, frames: int) -> bool:
        """Whether the frame-product form is used for an input of ``frames`` positions."""
        if self.form != "auto":
            return self.form == "frames"
        return frames + self.style_frames < self.channels

    def loss(self, features: torch.Tensor) -> torch.Tensor:
        frames = features.shape[1]
        if self.uses_frames(frames):
            own = torch.sum((features.T @ features) ** 2) / frames**2
            cross = torch.sum((self.style.T @ features) ** 2) / (frames * self.style_frames)
            squared = own - 2.0 * cross + self._style_term
        else:
            squared = torch.sum((gram(features) - self._gram) ** 2)
        return squared / self._style_term
