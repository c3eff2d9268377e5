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
        style = style_features.detach()
        self._setup(style, gram(style), style.shape[1], form)

    def _setup(self, style: torch.Tensor | None, gram_matrix: torch.Tensor, style_frames: int, form: str) -> None:
        if form not in ("auto", "gram", "frames"):
            raise ValueError(f"unknown Gram loss form {form!r}")
        self.form = form
        self.style = style
        self._gram = gram_matrix
        self.channels, self.style_frames = gram_matrix.shape[0], style_frames
        # ||G_s||_F^2, computed in the cheaper of the two forms; it is also the constant term of the identity.
        if style is not None and style_frames < self.channels:
            self._style_term = float(torch.sum((style.T @ style) ** 2)) / style_frames**2
        else:
            self._style_term = float(torch.sum(gram_matrix**2))
        self._style_term = max(self._style_term, 1e-12)

    def to_state(self) -> dict[str, torch.Tensor]:
        """What the loss needs, in the smaller form: the style features when ``T_s < N`` (the only case in which
        ``auto`` can pick the frame-product form), else the ``N x N`` Gram matrix and ``T_s``."""
        if self.style is not None and self.style_frames < self.channels:
            return {"features": self.style}
        return {"gram": self._gram, "frames": torch.tensor(self.style_frames)}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> GramTarget:
        """Rebuild a target (form ``auto``) from :meth:`to_state`."""
        if "features" in state:
            return cls(state["features"])
        target = cls.__new__(cls)
        target._setup(None, state["gram"], int(state["frames"]), "auto")
        return target

    def to(self, device: torch.device | str) -> GramTarget:
        """This target with its tensors on ``device`` (itself when they are there already): an objective computed
        on a GPU may be given targets built or loaded on the CPU."""
        device = torch.device(device)
        if self._gram.device == device:
            return self
        moved = GramTarget.__new__(GramTarget)
        moved.__dict__.update(self.__dict__)
        moved.style = None if self.style is None else self.style.to(device)
        moved._gram = self._gram.to(device)
        return moved

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
