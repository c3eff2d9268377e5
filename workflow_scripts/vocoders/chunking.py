"""Rendering a long signal in overlapping chunks, so that a vocoder's working memory depends on the chunk and not
on the clip: which span each chunk generates and keeps (:func:`plan_chunks`), and the cross-fade that joins a
chunk's kept output to its neighbour's (:func:`place_chunk`).

Positions are in whatever unit the caller plans in (mel frames for HiFi-GAN and Griffin-Lim, samples for WaveNet);
:meth:`Chunk.scaled` converts a frame plan to samples.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Chunk:
    """One chunk of a plan: generated over ``[start, start + length)`` (the plan's common length), kept over
    ``[keep, end)``; its first ``fade`` kept positions overlap the previous chunk's and are cross-faded with them."""

    start: int
    keep: int
    end: int
    fade: int

    def scaled(self, factor: int) -> Chunk:
        """The same chunk in units ``factor`` times finer (frames -> samples)."""
        return Chunk(self.start * factor, self.keep * factor, self.end * factor, self.fade * factor)


def plan_chunks(total: int, chunk: int, fade: int, before: int = 0, after: int = 0) -> tuple[list[Chunk], int]:
    """Split ``total`` positions into chunks of about ``chunk`` kept positions, all generated for the same length.

    Chunk ``i`` keeps ``[b_i - fade, b_{i+1})`` (the first chunk from 0), so neighbours overlap by ``fade``. Its
    generated span reaches at least ``before`` positions before what it keeps and ``after`` positions past it,
    wherever the signal has them: the context a model needs so that the kept output does not depend on where the
    chunk was cut. Returns the chunks and their common generated length (at most ``total``).
    """
    count = max(1, math.ceil(total / chunk))
    fade = min(fade, total // count)  # every kept span must hold a whole fade
    bounds = [round(i * total / count) for i in range(count + 1)]
    length = min(total, max(b - a for a, b in itertools.pairwise(bounds)) + fade + before + after)
    chunks = []
    for index, (begin, end) in enumerate(itertools.pairwise(bounds)):
        keep = max(begin - fade, 0)
        start = min(max(keep - before, 0), total - length)
        chunks.append(Chunk(start, keep, end, fade if index else 0))
    return chunks, length


def cross_fade_gains(length: int, equal_power: bool, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gains ``(fade_in, fade_out)`` of a ``length``-sample raised-cosine cross-fade, dtype and device of ``like``.

    Equal gain (``sin^2`` / ``cos^2``, summing to 1) joins two renderings of the same signal without a change of
    level; equal power (``sin`` / ``cos``, squares summing to 1) keeps the level of uncorrelated ones.
    """
    ramp = (torch.arange(length, dtype=like.dtype, device=like.device) + 0.5) / length
    fade_in, fade_out = torch.sin(0.5 * torch.pi * ramp), torch.cos(0.5 * torch.pi * ramp)
    return (fade_in, fade_out) if equal_power else (fade_in.square(), fade_out.square())


def place_chunk(audio: torch.Tensor, output: torch.Tensor, chunk: Chunk, equal_power: bool) -> None:
    """Write the kept part of ``output`` (generated from ``chunk.start``) into ``audio`` at ``chunk.keep``,
    cross-fading its first ``chunk.fade`` samples with the previous chunk's output already there. Chunks must be
    placed in order."""
    kept = output[chunk.keep - chunk.start : chunk.end - chunk.start]
    fade_in, fade_out = cross_fade_gains(chunk.fade, equal_power, kept)
    faded = audio[chunk.keep : chunk.keep + chunk.fade]
    faded.mul_(fade_out).add_(kept[: chunk.fade] * fade_in)
    audio[chunk.keep + chunk.fade : chunk.end] = kept[chunk.fade :]


def transposed_conv_reach(reach: int, kernel: int, stride: int, padding: int) -> int:
    """How far a transposed convolution's output dependence reaches in its input.

    If an output sample depends on outputs up to ``reach`` samples away on either side of it, it depends on inputs
    up to the returned number of elements on either side of the input element it lies in (output ``o`` lies in
    input ``o // stride``). Output ``o`` is made from inputs ``i`` with ``0 <= o + padding - i * stride < kernel``.
    """
    # worst case over where o falls in its input element: its first sample looks furthest back, its last furthest on
    back = (reach + kernel - 1 - padding) // stride
    on = (reach + padding + stride - 1) // stride
    return max(back, on)
