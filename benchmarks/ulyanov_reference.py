"""The published random-CNN recipe (Ulyanov & Lebedev 2016), written plainly: the speed baseline of ``make bench``.

None of the project's optimisations are used: ``log1p |STFT|`` with 1025 linear bins (22050 Hz, n_fft 2048,
hop 512), one 1-D convolution of 4096 random filters of width 11 (valid padding, He-style init, no bias), ReLU,
explicit Gram matrices ``F F^T / frames``, content weight 1e-2, scipy's L-BFGS-B for 300 iterations from
``1e-3 * randn``, and Griffin-Lim (500 iterations) to render. As in the published code the style spectrogram is
cut to the content's frame count and the loss is ``1e-2 * ||F - F_c||^2 + ||G - G_s||^2``. The STFT framing is the
project's (reflect padding, no centring) so both engines' audio lines up frame for frame.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.vocoders.griffinlim import griffin_lim

# Only the framing of this convention is used (stft / istft for Griffin-Lim); its mel fields are ignored.
FRAMING = dataclasses.replace(HIFIGAN, name="ulyanov", n_fft=2048, win_length=2048, hop_length=512)
FILTERS = 4096
WIDTH = 11
CONTENT_WEIGHT = 1e-2
ITERATIONS = 300
GRIFFIN_LIM_ITERATIONS = 500


def spectrogram(audio: np.ndarray) -> torch.Tensor:
    """``log1p |STFT|`` ``(1025, frames)`` of mono audio at 22050 Hz."""
    return torch.log1p(FRAMING.stft(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))).abs())


def render(log_spectrogram: torch.Tensor) -> np.ndarray:
    """Audio from a ``log1p |STFT|`` by Griffin-Lim, as the published recipe renders."""
    magnitude = torch.clamp(torch.expm1(log_spectrogram), min=0.0)
    return griffin_lim(magnitude, FRAMING, GRIFFIN_LIM_ITERATIONS).numpy()


@dataclass
class ReferenceResult:
    log_spectrogram: torch.Tensor
    seconds: float
    iterations: int
    evaluations: int
    style_loss: float  # the recipe's own ||G - G_s||^2 at the result


class Network:
    """The recipe's one random layer and its loss against the content's features and the style's Gram matrix."""

    def __init__(self, content: torch.Tensor, style: torch.Tensor, seed: int = 0) -> None:
        bins = content.shape[0]
        std = math.sqrt(2.0) * math.sqrt(2.0 / ((bins + FILTERS) * WIDTH))
        kernel = np.random.default_rng(seed).standard_normal((FILTERS, bins, WIDTH)) * std
        self.kernel = torch.from_numpy(kernel).float()
        with torch.no_grad():
            self.content_features = self.features(content)
            self.style_gram = self.gram(style)

    def features(self, log_spectrogram: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.nn.functional.conv1d(log_spectrogram[None], self.kernel))[0]

    def gram(self, log_spectrogram: torch.Tensor) -> torch.Tensor:
        features = self.features(log_spectrogram)
        return features @ features.T / features.shape[1]

    def style_loss(self, log_spectrogram: torch.Tensor) -> torch.Tensor:
        return torch.sum((self.gram(log_spectrogram) - self.style_gram) ** 2)

    def loss(self, log_spectrogram: torch.Tensor) -> torch.Tensor:
        """``1e-2 * ||F - F_c||^2 + ||G - G_s||^2``, written as the published code computes it."""
        features = self.features(log_spectrogram)
        gram = features @ features.T / features.shape[1]
        content_term = torch.sum((features - self.content_features) ** 2)
        return CONTENT_WEIGHT * content_term + torch.sum((gram - self.style_gram) ** 2)


def transfer(content: np.ndarray, style: np.ndarray, iterations: int = ITERATIONS, seed: int = 0) -> ReferenceResult:
    """Run the recipe on mono 22050 Hz audio; returns the optimised ``log1p |STFT|`` and the wall time."""
    start = time.perf_counter()
    content_spec = spectrogram(content)
    network = Network(content_spec, spectrogram(style)[:, : content_spec.shape[1]], seed)
    shape = content_spec.shape
    evaluations = 0

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations
        evaluations += 1
        x = torch.from_numpy(flat.reshape(shape).astype(np.float32)).requires_grad_(True)
        loss = network.loss(x)
        loss.backward()
        return float(loss.detach()), x.grad.numpy().ravel().astype(np.float64)

    initial = 1e-3 * np.random.default_rng(seed + 1).standard_normal(shape[0] * shape[1])
    found = scipy.optimize.minimize(
        loss_and_gradient, initial, jac=True, method="L-BFGS-B", options={"maxiter": iterations}
    )
    result = torch.from_numpy(found.x.reshape(shape).astype(np.float32))
    seconds = time.perf_counter() - start
    with torch.no_grad():
        style_loss = float(network.style_loss(result))
    return ReferenceResult(result, seconds, int(found.nit), evaluations, style_loss)
