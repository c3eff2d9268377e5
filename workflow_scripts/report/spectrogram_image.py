"""Per-output spectrogram panels as a PNG drawn with Pillow from colour-mapped arrays.

Drawn without matplotlib: importing matplotlib and laying out a figure cost the ``evaluate`` job about as much as
its cheap metrics together (docs/performance.md, evaluation section), and the panels need no more than an image, a
time axis, labels and a colour bar.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from workflow_scripts.pipeline.artifacts import atomic_path

# Colour range of spectrogram panels: this many dB below the loudest bin of all panels.
DYNAMIC_RANGE_DB = 80.0
# Polynomial fit of matplotlib's "magma" colour map (Matt Zucker, CC0), coefficients of t^0 .. t^6 per RGB channel;
# tests/test_metrics.py checks it against matplotlib's table.
MAGMA_COEFFICIENTS = np.array(
    [
        [-0.002136485053939582, -0.000749655052795221, -0.005386127855323933],
        [0.2516605407371642, 0.6775232436837668, 2.494026599312351],
        [8.353717279216625, -3.577719514958484, 0.3144679030132573],
        [-27.66873308576866, 14.26473078096533, -13.64921318813922],
        [52.17613981234068, -27.94360607168351, 12.94416944238394],
        [-50.76852536473588, 29.04658282127291, 4.23415299384598],
        [18.65570506591883, -11.48977351997711, -5.601961508734096],
    ]
)
PLOT_WIDTH = 1000  # pixels of the longest panel's time axis
ROWS_PER_MEL = 2  # pixel rows per mel band
MARGIN_LEFT, MARGIN_RIGHT, COLOUR_BAR_WIDTH = 48, 112, 16
TITLE_HEIGHT, LABEL_HEIGHT, AXIS_HEIGHT = 28, 18, 40
FONT_SIZE = 13


def magma(values: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` (``values.shape + (3,)``) of ``values`` in [0, 1] (clipped) on the magma colour map."""
    t = np.clip(values, 0.0, 1.0)[..., None].astype(np.float64)
    rgb = np.zeros((*t.shape[:-1], 3))
    for coefficients in MAGMA_COEFFICIENTS[::-1]:  # Horner's scheme
        rgb = rgb * t + coefficients
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def tick_step(span: float, most: int = 12) -> float:
    """The smallest of 1, 2, 5 x 10^k that puts at most ``most`` ticks on ``span``."""
    step = 10.0 ** math.floor(math.log10(max(span, 1e-9) / most))
    return next(step * factor for factor in (1, 2, 5, 10) if span / (step * factor) <= most)


def spectrogram_panels(
    path: str | os.PathLike,
    panels: Sequence[tuple[str, np.ndarray]],
    frame_rate: float,
    title: str = "",
) -> None:
    """One PNG with stacked log-mel spectrograms on the same colour scale and time axis, low bands at the bottom.

    Parameters
    ----------
    path : PNG to write (atomically).
    panels : (label, dB log-mel ``(n_mels, frames)``) per row, top to bottom.
    frame_rate : frames per second of every panel.
    title : image title.
    """
    top = max(float(np.max(db)) for _, db in panels)
    longest = max(db.shape[1] for _, db in panels)
    heights = [db.shape[0] * ROWS_PER_MEL for _, db in panels]
    width = MARGIN_LEFT + PLOT_WIDTH + MARGIN_RIGHT
    image = Image.new("RGB", (width, TITLE_HEIGHT + sum(heights) + LABEL_HEIGHT * len(panels) + AXIS_HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(FONT_SIZE)
    draw.text((MARGIN_LEFT, 6), title, fill="black", font=font)
    y = TITLE_HEIGHT
    for (label, db), height in zip(panels, heights, strict=True):
        draw.text((MARGIN_LEFT, y + 2), label, fill="black", font=font)
        y += LABEL_HEIGHT
        colours = magma((np.asarray(db)[::-1] - (top - DYNAMIC_RANGE_DB)) / DYNAMIC_RANGE_DB)
        panel_width = max(1, round(PLOT_WIDTH * db.shape[1] / longest))
        image.paste(Image.fromarray(colours).resize((panel_width, height), Image.Resampling.NEAREST), (MARGIN_LEFT, y))
        draw.rectangle((MARGIN_LEFT - 1, y - 1, MARGIN_LEFT + PLOT_WIDTH, y + height), outline="black")
        for band in (0, db.shape[0] // 2, db.shape[0]):
            draw.text((MARGIN_LEFT - 6, y + height - band * ROWS_PER_MEL), str(band), fill="black", font=font,
                      anchor="rm")  # fmt: skip
        y += height
    seconds = longest / frame_rate
    step = tick_step(seconds)
    for tick in np.arange(0.0, seconds + 1e-9, step):
        x = MARGIN_LEFT + tick / seconds * PLOT_WIDTH
        draw.line((x, y, x, y + 4), fill="black")
        draw.text((x, y + 6), f"{tick:g}", fill="black", font=font, anchor="mt")
    draw.text((MARGIN_LEFT + PLOT_WIDTH / 2, y + 22), "time (s); rows: mel band", fill="black", font=font, anchor="mt")
    _colour_bar(image, draw, font, top)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=False)


def _colour_bar(image: Image.Image, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, top: float) -> None:
    """The colour scale right of the panels, labelled in dB above the floor every 20 dB."""
    left, first, last = MARGIN_LEFT + PLOT_WIDTH + 8, TITLE_HEIGHT + LABEL_HEIGHT, image.height - AXIS_HEIGHT
    ramp = magma(np.linspace(1.0, 0.0, last - first))[:, None, :].repeat(COLOUR_BAR_WIDTH, axis=1)
    image.paste(Image.fromarray(ramp), (left, first))
    for level in np.arange(math.floor(top / 20.0) * 20.0, top - DYNAMIC_RANGE_DB - 1e-9, -20.0):
        y = first + (top - level) / DYNAMIC_RANGE_DB * (last - first)
        draw.text((left + COLOUR_BAR_WIDTH + 4, y), f"{level:g}", fill="black", font=font, anchor="lm")
    draw.text((left, last + 6), "dB above floor", fill="black", font=font)
