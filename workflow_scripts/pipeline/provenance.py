"""Where a results table comes from: a hash of the configuration it was assembled under and the git commit of the
code. Stated in ``results/metrics.tsv`` and the report so that tables of different runs cannot be mistaken for one
another.

Imports nothing heavy: the Snakefile hashes the configuration at parse time.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The checkout the pipeline's code comes from (workflow_scripts/ lies in it).
CODE_DIRECTORY = Path(__file__).resolve().parents[2]
HASH_CHARACTERS = 12


def config_hash(config: Mapping[str, Any]) -> str:
    """First :data:`HASH_CHARACTERS` hex digits of the SHA-256 of ``config`` as canonical JSON (sorted keys):
    equal for equal configurations whatever the key order or the file they came from."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:HASH_CHARACTERS]


def git_commit(directory: str | Path = CODE_DIRECTORY) -> str:
    """The commit checked out in ``directory`` (12 hex digits), ``+dirty`` when tracked files differ from it;
    ``unknown`` outside a git checkout or without git."""
    try:
        commit = _git(directory, "rev-parse", f"--short={HASH_CHARACTERS}", "HEAD")
        dirty = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _git(directory: str | Path, *args: str) -> str:
    command = ["git", "-C", str(directory), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout.strip()
