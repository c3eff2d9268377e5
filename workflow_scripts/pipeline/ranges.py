"""Allowed ranges of numeric options, declared on the options dataclasses' fields and checked in one place.

An option with a range is declared ``k: int = ranged(4, minimum=1)``;
:func:`workflow_scripts.pipeline.settings.parse_options` checks every value it parses against its field's
:class:`Range` (each element of a list, each value of a mapping) and names the key path, the value and what is
allowed in one line. The schema checks keys, types and choices only. Light (no torch), like everything the
Snakefile imports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Where a field keeps its range (dataclasses.Field.metadata).
RANGE_KEY = "range"


@dataclass(frozen=True)
class Range:
    """Numbers from ``minimum`` (excluded when ``exclusive``) to ``maximum``, plus the values in ``also``.

    Attributes:
        minimum: the smallest allowed value (``None``: no lower bound).
        maximum: the largest allowed value (``None``: no upper bound).
        exclusive: ``minimum`` itself is not allowed (a value must be above it).
        also: values allowed outside the range (``window_frames``' 0: off).
        why: a short reason shown with the range (why a bound is where it is).
    """

    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    also: tuple[float, ...] = ()
    why: str = ""

    def allows(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.minimum is not None and (value <= self.minimum if self.exclusive else value < self.minimum):
            return False
        return self.maximum is None or value <= self.maximum

    def __str__(self) -> str:
        low = None if self.minimum is None else f"{'>' if self.exclusive else '>='} {self.minimum:g}"
        if low and self.maximum is not None:
            text = f"{self.minimum:g} .. {self.maximum:g}" if not self.exclusive else f"{low} and <= {self.maximum:g}"
        else:
            text = low or f"<= {self.maximum:g}"
        text = " or ".join([*(f"{value:g}" for value in self.also), text])
        return f"{text} ({self.why})" if self.why else text


def ranged(default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, **bounds: Any) -> Any:
    """A dataclass field with ``default`` (or ``default_factory``) whose values must lie in ``Range(**bounds)``."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={RANGE_KEY: Range(**bounds)})


def field_range(field: dataclasses.Field) -> Range | None:
    """The :class:`Range` declared on ``field``, if any."""
    return field.metadata.get(RANGE_KEY)


def out_of_range(value: Any, allowed: Range, path: str) -> str | None:
    """The one-line message for the first number in ``value`` (a number, a list or a mapping of numbers) outside
    ``allowed``, naming its key path (``path``, ``path[i]``, ``path.key``); ``None`` when all are inside."""
    if isinstance(value, list):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    elif isinstance(value, dict):
        items = [(f"{path}.{key}", item) for key, item in value.items()]
    else:
        items = [(path, value)]
    for where, number in items:
        if not allowed.allows(number):
            return f"config: {where}: {number!r} is not allowed; allowed: {allowed}"
    return None
