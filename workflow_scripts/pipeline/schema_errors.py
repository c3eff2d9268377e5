"""One line for a config that fails ``schemas/config.schema.yaml``: the key path, what is allowed there, and the
nearest valid key or value for a typo.

jsonschema's own message dumps the failing part of the schema (hundreds of lines for a top-level typo). The
Snakefile catches Snakemake's validation error and shows :func:`schema_error_line` of the jsonschema error instead.
Like everything the Snakefile imports, this module is light (no torch, no librosa).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# JSON type names as a user of a YAML file knows them.
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}  # fmt: skip
_LONGEST_VALUE = 60


def schema_error_line(error: Any, config: Mapping[str, Any]) -> str:
    """The one-line message for ``error``, a ``jsonschema.ValidationError`` raised on ``config``.

    Args:
        error: the first error jsonschema found (its ``validator``, ``validator_value``, ``instance``, ``schema``,
            ``absolute_path`` and, for ``oneOf`` / ``anyOf``, ``context`` are read).
        config: the validated config, to name a clip by its id as well as its position.
    """
    key, problem = _diagnose(error, config)
    return f"config: {key}{_clip_note(error.absolute_path, config)}: {problem}" if key else f"config: {problem}"


def first_schema_error(config: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """The line for the first error of ``config`` against ``schema`` (the one Snakemake's validate raises)."""
    from jsonschema import Draft202012Validator

    error = next(Draft202012Validator(schema).iter_errors(config), None)
    return None if error is None else schema_error_line(error, config)


def _diagnose(error: Any, config: Mapping[str, Any]) -> tuple[str, str]:
    """The key path an error is at, and what is wrong there and what is allowed."""
    where = _key_path(error.absolute_path)
    kind, allowed, value = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        extra = next(key for key in value if key not in known)
        key = f"{where}.{extra}" if where else str(extra)
        return key, f"unknown key{nearest_hint(extra, known)}; allowed keys: {', '.join(known)}"
    if kind == "required":
        return where, f"missing key {next(key for key in allowed if key not in value)!r}"
    if kind in ("oneOf", "anyOf"):
        return _alternatives(error, where, config)
    if kind == "enum":
        choices = [str(choice) for choice in allowed]
        return where, f"{_show(value)} is not allowed{nearest_hint(str(value), choices)}; allowed: {', '.join(choices)}"
    if kind == "type":
        expected = " or ".join(_TYPE_NAMES.get(name, name) for name in _as_list(allowed))
        return where, f"expected {expected}, got {_show(value)}"
    description = error.schema.get("description")
    return where, f"{error.message} ({description.rstrip('.')})" if description else error.message


def _alternatives(error: Any, where: str, config: Mapping[str, Any]) -> tuple[str, str]:
    """What a value failing ``oneOf`` / ``anyOf`` lacks: one of some keys, only one of them, or the nearest branch."""
    branches = error.validator_value
    if all(set(branch) == {"required"} for branch in branches):
        keys = [key for branch in branches for key in branch["required"]]
        given = [key for key in keys if key in error.instance]
        if given:
            return where, f"give only one of {' or '.join(keys)}, not {' and '.join(given)}"
        return where, f"needs {' or '.join(keys)}; neither is given"
    from jsonschema.exceptions import best_match

    # The branch written for this kind of value (a list, a string) says more than "expected a list", and a branch
    # that got deeper into the value fits it better.
    fitting = [e for e in error.context if e.validator != "type" or e.relative_path] or list(error.context)
    depth = max((len(e.relative_path) for e in fitting), default=0)
    nearest = best_match(e for e in fitting if len(e.relative_path) == depth)
    description = error.schema.get("description")
    if depth == 0 and description and getattr(nearest, "validator", None) != "enum":
        # alternatives of one value (a count, or "auto"): its description says them all, where one branch would not
        return where, f"{_show(error.instance)} is not allowed; {description.rstrip('.')}"
    return _diagnose(nearest, config) if nearest is not None else (where, error.message)


def _key_path(path: Iterable[str | int]) -> str:
    """``transfer.method``, ``clips[0].path``: where in the config an error is."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _clip_note(path: Sequence[str | int], config: Mapping[str, Any]) -> str:
    """`` (clip 'x')`` for an error inside ``clips[i]``, so that the clip is found by its id as well."""
    if len(path) < 2 or path[0] != "clips" or not isinstance(path[1], int):
        return ""
    clip = config["clips"][path[1]]
    return f" (clip {clip['id']!r})" if isinstance(clip, Mapping) and isinstance(clip.get("id"), str) else ""


def nearest_hint(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` with the choice nearest to ``word`` (difflib), or nothing when none is near."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close:  # a case slip ("KNN") is close at any length
        close = [choice for choice in choices if choice.lower() == word.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _LONGEST_VALUE else text[: _LONGEST_VALUE - 3] + "..."


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
