"""DAG scale: wall time of ``snakemake -n`` on a generated corpus of 1000 pairs x 4 backbones x 2 vocoders.

The corpus is a sample sheet of empty placeholder files (a dry run only checks that inputs exist): 40 content
clips crossed with 25 style clips. Every registered backbone runs with random weights; the vocoders are Griffin-Lim
and HiFi-GAN. The time is the whole command as a user runs it (interpreter start, imports, parsing, DAG). The
baseline, measured in the same run, is Snakemake's own floor: a minimal Snakefile (one-line shell rules in a
chain, no input functions, params, logs or benchmarks) planning the same number of jobs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import print_table
from workflow_scripts.backbones import BACKBONES

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0


def write_corpus(directory: Path, contents: int, styles: int) -> None:
    rows = ["path\trole"]
    for role, count in (("content", contents), ("style", styles)):
        for index in range(count):
            name = f"{role}_{index:03d}.wav"
            (directory / name).touch()
            rows.append(f"{name}\t{role}")
    (directory / "samples.tsv").write_text("\n".join(rows) + "\n")
    config = {
        "sample_sheet": "samples.tsv",
        "pairs": "cross",
        "backbones": {name: {"weights": "random"} for name in BACKBONES},
        "vocoders": {"griffinlim": {"convention": "hifigan"}, "hifigan": {}},
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


def write_minimal_workflow(directory: Path, jobs: int) -> None:
    """A Snakefile of three chained one-line rules over ``jobs // 3`` items, plus its ``all`` rule."""
    items = jobs // 3
    rules = [f'rule all:\n    input: expand("c/{{i}}", i=range({items}))']
    for name, source in (("a", None), ("b", "a"), ("c", "b")):
        source_line = f'    input: "{source}/{{i}}"\n' if source else ""
        rules.append(f'rule {name}:\n{source_line}    output: "{name}/{{i}}"\n    shell: "touch {{output}}"')
    (directory / "Snakefile").write_text("\n".join(rules) + "\n")


def dry_run(directory: Path, snakefile: Path) -> tuple[float, int]:
    """Seconds of ``snakemake -n`` and the number of jobs it planned."""
    command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--cores", "2",
               "--snakefile", str(snakefile), "--directory", str(directory)]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    total = re.search(r"^total\s+(\d+)", process.stdout + process.stderr, re.MULTILINE)
    return seconds, int(total.group(1)) if total else -1


def run(contents: int = 40, styles: int = 25) -> None:
    with tempfile.TemporaryDirectory() as pipeline_dir, tempfile.TemporaryDirectory() as minimal_dir:
        write_corpus(Path(pipeline_dir), contents, styles)
        seconds, jobs = dry_run(Path(pipeline_dir), REPO / "Snakefile")
        write_minimal_workflow(Path(minimal_dir), jobs)
        floor_seconds, floor_jobs = dry_run(Path(minimal_dir), Path(minimal_dir) / "Snakefile")
    print_table(
        f"DAG scale: snakemake -n on {contents * styles} pairs x {len(BACKBONES)} backbones x 2 vocoders "
        f"({contents} content x {styles} style clips); target {TARGET_SECONDS:g} s",
        [
            {"workflow": "this pipeline", "jobs planned": jobs, "seconds": seconds, "ms / job": 1e3 * seconds / jobs,
             "x floor": seconds / floor_seconds},
            {"workflow": "minimal Snakefile (floor)", "jobs planned": floor_jobs, "seconds": floor_seconds,
             "ms / job": 1e3 * floor_seconds / floor_jobs, "x floor": 1.0},
        ],
    )  # fmt: skip
