"""The metric registry: every column of ``results/metrics.tsv`` after the keys, by family, in order.

A family is one module of :mod:`workflow_scripts.metrics.families` that declares a :class:`Metric` (``METRIC``):
its columns (name, range or unit, better direction, how the report shows it), which clip kinds it applies to, and a
``measure`` function of one :class:`~workflow_scripts.metrics.analysis.OutputAnalysis` (the output and its clips,
read by the evaluate step).
:func:`measure_row` runs every family that applies and leaves the columns of the others empty (NaN), never a
made-up number. The report's tables and docs/metrics.md's column index follow from :func:`registered`
(docs/metrics.md, "Adding a metric").

This module and the families' module level import no torch: the report and the docs read the declarations.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from workflow_scripts.metrics import families
from workflow_scripts.metrics.metrics_table import KEY_COLUMNS

if TYPE_CHECKING:
    from workflow_scripts.metrics.analysis import OutputAnalysis

KINDS = ("speech", "music")
# Better directions and how the report heads them.
ARROWS = {"higher": "↑", "lower": "↓", "near 0": "→0", "near 1": "→1", "": ""}
# Where the report shows a column: its first table (how well the transfer worked), "Checks and costs", or only in
# the downloadable metrics.tsv.
PLACES = ("key", "checks", "")


@dataclass(frozen=True)
class Column:
    """One column of the metrics table.

    ``scale`` is its range or unit ("-1..1", "dB"); ``better`` one of :data:`ARROWS`; ``label`` what the report
    heads it with; ``report`` one of :data:`PLACES`; ``headline``: also printed beside each output's player.
    """

    name: str
    scale: str
    better: str = ""
    label: str = ""
    report: str = ""
    headline: bool = False

    def __post_init__(self) -> None:
        if self.better not in ARROWS or self.report not in PLACES or (self.report and not self.label):
            raise ValueError(f"column {self.name!r}: better in {list(ARROWS)}, report in {PLACES} (with a label)")

    @property
    def heading(self) -> str:
        return f"{self.label} {ARROWS[self.better]}".strip()


@dataclass(frozen=True)
class Metric:
    """A family of columns measured together.

    Parameters
    ----------
    name : the family's name (its module's).
    summary : what it measures, in a few words (docs/metrics.md's column index).
    columns : the columns ``measure`` returns, in table order.
    measure : the values of those columns for one output.
    content_kinds, style_kinds : the clip kinds it applies to (:data:`KINDS`); elsewhere its columns are empty.
    """

    name: str
    summary: str
    columns: tuple[Column, ...]
    measure: Callable[[OutputAnalysis], Mapping[str, Any]]
    content_kinds: tuple[str, ...] = KINDS
    style_kinds: tuple[str, ...] = KINDS

    def applies(self, kinds: Mapping[str, str]) -> bool:
        return kinds["content"] in self.content_kinds and kinds["style"] in self.style_kinds

    @property
    def applies_to(self) -> str:
        """The kinds in words: "all", "speech content", "speech to speech", ..."""
        content = "" if self.content_kinds == KINDS else " or ".join(self.content_kinds)
        style = "" if self.style_kinds == KINDS else " or ".join(self.style_kinds)
        if content and style:
            return f"{content} to {style}"
        return f"{content} content" if content else (f"{style} style" if style else "all")


# Table order of the families; the report's tables follow it. A family not listed (a new module) comes after them,
# by name, before `costs`, which stays last: it reads the evaluate job's own time so far.
ORDER = ("record", "timing", "texture", "melody", "speaker", "naturalness", "loudness", "harmony", "smoothness",
         "checks")  # fmt: skip
LAST = "costs"


@cache
def registered() -> tuple[Metric, ...]:
    """The ``METRIC`` of every module of :mod:`workflow_scripts.metrics.families` (whose ``__path__`` may span
    several directories: see its ``__init__``), in table order."""
    found = {}
    for module in pkgutil.iter_modules(families.__path__):
        name = f"{families.__name__}.{module.name}"
        metric = getattr(importlib.import_module(name), "METRIC", None)
        if not isinstance(metric, Metric) or metric.name in found:
            raise TypeError(f"{name}: a family module declares one METRIC = Metric(...) of a name no other family has")
        found[metric.name] = metric
    rank = {name: index for index, name in enumerate(ORDER)} | {LAST: len(ORDER) + 1}
    return tuple(sorted(found.values(), key=lambda metric: (rank.get(metric.name, len(ORDER)), metric.name)))


def columns(metrics: tuple[Metric, ...] | None = None) -> list[Column]:
    """Every column of ``metrics`` (default: :func:`registered`), in table order."""
    return [column for metric in metrics or registered() for column in metric.columns]


def measure_row(
    keys: Mapping[str, str], analysis: OutputAnalysis, metrics: tuple[Metric, ...] | None = None
) -> dict[str, Any]:
    """One metrics row: the keys, then every family's columns (default: :func:`registered`), empty where it does
    not apply to ``analysis.kinds``.

    Raises ``ValueError`` when a family returns other columns than it declares.
    """
    row = {name: keys[name] for name in KEY_COLUMNS}
    for metric in metrics or registered():
        names = [column.name for column in metric.columns]
        if not metric.applies(analysis.kinds):
            row |= dict.fromkeys(names, math.nan)
            continue
        values = metric.measure(analysis)
        if set(values) != set(names):
            raise ValueError(f"metric {metric.name!r} returned {sorted(values)}, declares {sorted(names)}")
        row |= {name: values[name] for name in names}
    return row


def markdown_index(metrics: tuple[Metric, ...] | None = None) -> str:
    """docs/metrics.md's column index, from the declarations: the families, then one row per column."""
    metrics = metrics or registered()
    lines = ["| family | measures | applies to |", "|---|---|---|"]
    lines += [f"| {metric.name} | {metric.summary} | {metric.applies_to} |" for metric in metrics]
    lines += ["", "| column | family | range or unit | better | report table |", "|---|---|---|---|---|"]
    places = {"key": "Metrics", "checks": "Checks and costs", "": "-"}
    lines += [f"| `{column.name}` | {metric.name} | {column.scale or '-'} | {column.better or '-'} | "
              f"{places[column.report]} |" for metric in metrics for column in metric.columns]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # docs/metrics.md's column index: python -m workflow_scripts.metrics.registry
    print(markdown_index(), end="")
