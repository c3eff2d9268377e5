"""The corpus a config lists: its clips (inline, a sample sheet, a directory) and the pairs made of them.

Light, like everything the Snakefile imports (:mod:`workflow_scripts.pipeline.settings` builds the pipeline from
it): no torch, torchvision or librosa.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow_scripts.pipeline.demo_corpus import SYNTHS
from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.options import TRIM_METHODS

# Files corpus_dir discovers: the formats libsndfile (>= 1.1, bundled with soundfile) decodes that recordings come in.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".mp3")
ROLES = ("content", "style", "both")
KINDS = ("speech", "music")


@dataclass(frozen=True)
class Clip:
    """One input clip: a file (``path``) or a built-in demo signal (``synth``).

    ``kind`` (speech or music) decides which evaluation metrics apply; ``None`` means: speech when the clip is
    trimmed with webrtcvad, music otherwise (:meth:`Pipeline.clip_kind`).
    """

    id: str
    path: str | None = None
    synth: str | None = None
    vad: str | None = None
    role: str = "both"
    kind: str | None = None

    @property
    def is_content(self) -> bool:
        return self.role in ("content", "both")

    @property
    def is_style(self) -> bool:
        return self.role in ("style", "both")


def clip_id_for(relative: Path) -> str:
    """Clip id of a discovered file: its path without extension, separators and spaces as ``_``."""
    return re.sub(r"[\s/\\]+", "_", str(relative.with_suffix("")))


def collect_clips(config: Mapping[str, Any]) -> dict[str, Clip]:
    """Every clip the config lists (``clips``, ``sample_sheet``, ``corpus_dir``) by id; raise :class:`ConfigError`."""
    found: list[tuple[Clip, str]] = []
    for entry in config.get("clips") or []:
        found.append((Clip(**entry), "clips"))
    if config.get("sample_sheet"):
        found += [(clip, config["sample_sheet"]) for clip in _read_sample_sheet(Path(config["sample_sheet"]))]
    if config.get("corpus_dir"):
        found += [(clip, config["corpus_dir"]) for clip in discover_clips(Path(config["corpus_dir"]))]

    clips: dict[str, Clip] = {}
    for clip, origin in found:
        if clip.id in clips:
            raise ConfigError(f"config: clip id {clip.id!r} appears twice (again in {origin}); ids must be unique")
        if clip.synth is not None and clip.synth not in SYNTHS:
            raise ConfigError(
                f"config: clip {clip.id!r}: unknown synth {clip.synth!r}; known: {', '.join(sorted(SYNTHS))}"
            )
        if clip.path is not None and not Path(clip.path).is_file():
            raise ConfigError(f"config: clip {clip.id!r}: audio file not found: {clip.path}; fix the path")
        clips[clip.id] = clip
    return clips


def _read_sample_sheet(sheet: Path) -> list[Clip]:
    if not sheet.is_file():
        raise ConfigError(f"config: sample_sheet not found: {sheet}")
    with open(sheet, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    clips = []
    for line, row in enumerate(rows, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if not row.get("path"):
            raise ConfigError(f"{sheet}:{line}: missing path; the sheet needs a 'path' column")
        path = Path(row["path"]) if Path(row["path"]).is_absolute() else sheet.parent / row["path"]
        if row.get("vad") and row["vad"] not in TRIM_METHODS:
            raise ConfigError(f"{sheet}:{line}: vad must be webrtcvad, energy or none, not {row['vad']!r}")
        if row.get("role") and row["role"] not in ROLES:
            raise ConfigError(f"{sheet}:{line}: role must be one of {', '.join(ROLES)}, not {row['role']!r}")
        if row.get("kind") and row["kind"] not in KINDS:
            raise ConfigError(f"{sheet}:{line}: kind must be one of {', '.join(KINDS)}, not {row['kind']!r}")
        clip_id = row.get("id") or clip_id_for(Path(Path(row["path"]).name))
        if "/" in clip_id:
            raise ConfigError(f"{sheet}:{line}: id must not contain '/', not {clip_id!r}")
        clips.append(
            Clip(
                clip_id,
                str(path),
                vad=row.get("vad") or None,
                role=row.get("role") or "both",
                kind=row.get("kind") or None,
            )
        )
    return clips


def discover_clips(directory: Path) -> list[Clip]:
    """Every audio file under ``directory`` (:data:`AUDIO_EXTENSIONS`, any depth) as a clip, in path order."""
    if not directory.is_dir():
        raise ConfigError(f"config: corpus_dir not found: {directory}")
    # the extension first: only audio files cost a stat (the listing is all discovery reads; jobs read the audio)
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    return [Clip(clip_id_for(p.relative_to(directory)), str(p)) for p in files]


def pairs_of(spec: str | list[Mapping[str, str]], clips: Mapping[str, Clip]) -> tuple[tuple[str, str], ...]:
    """The (content, style) pairs of ``pairs``: ``cross`` or an explicit list, each once, in order."""
    if spec == "cross":
        pairs = [(c.id, s.id) for c in clips.values() for s in clips.values() if c.is_content and s.is_style and c != s]
    else:
        pairs = []
        for entry in spec:
            for role in ("content", "style"):
                if entry[role] not in clips:
                    raise ConfigError(f"config: pairs: unknown {role} clip {entry[role]!r}")
            pairs.append((entry["content"], entry["style"]))
    if not pairs:
        raise ConfigError("config: pairs: no (content, style) pairs; check clip roles or list pairs explicitly")
    return tuple(dict.fromkeys(pairs))  # listed twice = once
