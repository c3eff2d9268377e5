"""Chunk plans, cross-fades and receptive-field arithmetic shared by the vocoders."""

import itertools

import numpy as np
import pytest
import torch

from workflow_scripts.vocoders.chunking import Chunk, place_chunk, plan_chunks, transposed_conv_reach


@pytest.mark.parametrize(
    "total, chunk, fade, before, after",
    [(10_000, 2048, 128, 505, 0), (2_000, 2048, 128, 505, 0), (5_121, 1000, 128, 505, 0), (3_000, 512, 1, 13, 13),
     (700, 100, 4, 8, 8), (50, 7, 30, 3, 3)],
)  # fmt: skip
def test_plan_covers_the_signal_with_context_on_both_sides(total, chunk, fade, before, after):
    chunks, length = plan_chunks(total, chunk, fade, before, after)
    assert chunks[0].keep == 0 and chunks[0].fade == 0 and chunks[-1].end == total
    for previous, current in itertools.pairwise(chunks):
        assert current.keep == previous.end - current.fade and 0 < current.fade <= fade  # overlap: a cross-fade
        assert current.end - current.keep > current.fade  # each fade ends inside the chunk's own span
    for c in chunks:
        assert 0 <= c.start and c.start + length <= total and c.end <= c.start + length
        assert c.start == 0 or c.keep - c.start >= before  # context before what is kept...
        assert c.start + length == total or c.start + length - c.end >= after  # ...and after it
    assert max(c.end - c.keep for c in chunks) <= chunk + fade + 1


def test_scaled_chunk_converts_frames_to_samples():
    assert Chunk(2, 5, 9, 1).scaled(256) == Chunk(512, 1280, 2304, 256)


def stitched(rows: torch.Tensor, chunks: list[Chunk], total: int, equal_power: bool) -> torch.Tensor:
    audio = torch.zeros(total, dtype=rows.dtype)
    for row, chunk in zip(rows, chunks, strict=True):
        place_chunk(audio, row, chunk, equal_power)
    return audio


def test_equal_gain_cross_fade_of_renderings_of_one_signal_gives_that_signal():
    total, signal = 5000, torch.randn(5000, dtype=torch.float64)
    chunks, length = plan_chunks(total, 900, fade=100)
    rows = torch.stack([signal[c.start : c.start + length] for c in chunks])
    torch.testing.assert_close(stitched(rows, chunks, total, equal_power=False), signal, rtol=0, atol=1e-12)


def max_step(audio: torch.Tensor) -> float:
    return float(audio.diff().abs().max())


def test_equal_power_seams_add_no_discontinuity_and_keep_the_level():
    # every chunk continues the same tone with its own phase, as independently sampled chunks do
    total, sr = 8000, 22050
    chunks, length = plan_chunks(total, 2000, fade=128, before=505)
    t = torch.arange(length, dtype=torch.float64)
    rows = torch.stack(
        [0.5 * torch.sin(2 * torch.pi * 220 * (t + c.start) / sr + 1.7 * i) for i, c in enumerate(chunks)]
    )
    audio = stitched(rows, chunks, total, equal_power=True)
    surrounding = max_step(rows[0])
    # an equal-power fade of two in-phase-ish tones can reach sqrt(2) times either's slope, never a jump
    assert max_step(audio) <= np.sqrt(2) * surrounding
    # without the cross-fade the seams jump far above the signal's own sample-to-sample steps
    cut = torch.cat([row[c.keep + c.fade - c.start : c.end - c.start] for row, c in zip(rows, chunks, strict=True)])
    assert max_step(cut) > 3 * surrounding
    # equal-power fade keeps the level of uncorrelated chunks
    rms = audio.square().mean().sqrt()
    assert float(rms) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    "kernel, stride, padding, reach", [(16, 8, 4, 0), (16, 8, 4, 60), (4, 2, 1, 63), (4, 4, 0, 0), (7, 3, 0, 5)]
)
def test_transposed_conv_reach_is_the_exact_dependence(kernel, stride, padding, reach):
    torch.manual_seed(0)
    conv = torch.nn.ConvTranspose1d(1, 1, kernel, stride, padding)
    inputs = torch.randn(1, 1, 64, requires_grad=True)
    outputs = conv(inputs)[0, 0]
    measured = 0
    for o in range(reach + 8 * stride, reach + 9 * stride):  # every position within one input element
        window = outputs[o - reach : o + reach + 1].sum()
        (grad,) = torch.autograd.grad(window, inputs, retain_graph=True)
        used = grad[0, 0].nonzero().flatten()
        measured = max(measured, o // stride - int(used.min()), int(used.max()) - o // stride)
    assert transposed_conv_reach(reach, kernel, stride, padding) == measured
