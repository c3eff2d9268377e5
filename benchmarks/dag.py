"""DAG scale: what a large corpus costs before and around the real work.

1. Planning: ``snakemake -n`` on a generated corpus of 1000 pairs x 4 backbones x 2 vocoders. The corpus is a
   sample sheet of empty placeholder files (a dry run only checks that inputs exist): 40 content clips crossed
   with 25 style clips. Every registered backbone runs with random weights; the vocoders are Griffin-Lim and
   HiFi-GAN. The time is the whole command as a user runs it (interpreter start, imports, parsing, DAG). The
   baseline, measured in the same run, is Snakemake's own floor: a minimal Snakefile (one-line shell rules in a
   chain, no input functions, params, logs or benchmarks) planning the same number of jobs. Both are reported as
   wall and CPU time (user + system of the process); the ratio uses CPU time, which other work on a shared
   machine disturbs less.
2. Job start-up: the time a fresh interpreter takes to import what each rule script imports, and which heavy
   packages that loads, so a job that imports what it does not use shows up. Every job pays this before its work.
3. Corpus discovery: loading a config whose ``corpus_dir`` holds 10,000 audio files (discovery and validation,
   :func:`workflow_scripts.pipeline.settings.load_pipeline`).
4. The demo: ``snakemake -n`` on the repository's own ``config.yaml`` in an empty directory (best of 3), against
   the minimal Snakefile with the same job count.
"""

from __future__ import annotations

import ast
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import print_table
from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS
from workflow_scripts.pipeline.settings import load_pipeline

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.3
DISCOVERY_TARGET_SECONDS = 5.0
DEMO_TARGET_SECONDS = 2.0
# Packages whose import takes a noticeable part of a second or more.
HEAVY_PACKAGES = ("torch", "torchvision", "librosa", "scipy", "matplotlib", "pandas", "jinja2", "webrtcvad")


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
        "backbones": {name: {"weights": "random"} for name in BACKBONE_OPTIONS},
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


def dry_run(directory: Path, snakefile: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of ``snakemake -n`` and the number of jobs it planned."""
    command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--cores", "2",
               "--snakefile", str(snakefile), "--directory", str(directory)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    total = re.search(r"^total\s+(\d+)", process.stdout + process.stderr, re.MULTILINE)
    return seconds, cpu, int(total.group(1)) if total else -1


def planning(contents: int, styles: int) -> None:
    with tempfile.TemporaryDirectory() as pipeline_dir, tempfile.TemporaryDirectory() as minimal_dir:
        write_corpus(Path(pipeline_dir), contents, styles)
        seconds, cpu, jobs = dry_run(Path(pipeline_dir), REPO / "Snakefile")
        write_minimal_workflow(Path(minimal_dir), jobs)
        floor_seconds, floor_cpu, floor_jobs = dry_run(Path(minimal_dir), Path(minimal_dir) / "Snakefile")
    print_table(
        f"DAG scale: snakemake -n on {contents * styles} pairs x {len(BACKBONE_OPTIONS)} backbones x 2 vocoders "
        f"({contents} content x {styles} style clips); target: within {TARGET_RATIO:g}x of the floor's CPU time",
        [
            {"workflow": "this pipeline", "jobs planned": jobs, "wall s": seconds, "CPU s": cpu,
             "CPU ms / job": 1e3 * cpu / jobs, "x floor (CPU)": cpu / floor_cpu, "target": TARGET_RATIO},
            {"workflow": "minimal Snakefile (floor)", "jobs planned": floor_jobs, "wall s": floor_seconds,
             "CPU s": floor_cpu, "CPU ms / job": 1e3 * floor_cpu / floor_jobs, "x floor (CPU)": 1.0, "target": ""},
        ],
    )  # fmt: skip


def script_imports(script: Path) -> str:
    """The top-level import statements of a rule script: what a job imports before its work starts."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))


def import_time(code: str, repeat: int = 3) -> tuple[float, list[str]]:
    """Best wall time of a fresh interpreter running ``code``, and the heavy packages it loaded."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([p for p in {HEAVY_PACKAGES!r} if p in sys.modules]))"
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        process = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best, json.loads(process.stdout.splitlines()[-1])


def start_up() -> None:
    rows = []
    baselines = (
        ("(python, nothing imported)", "pass"),
        # what Snakemake's preamble of every script job imports to unpickle the `snakemake` object
        ("(Snakemake's script preamble)", "import snakemake.script, snakemake.logging, snakemake.iocontainers"),
    )
    scripts = sorted(p for p in (REPO / "workflow_scripts" / "steps").glob("*.py") if p.name != "__init__.py")
    for name, code in (*baselines, *((p.name, script_imports(p)) for p in scripts)):
        seconds, heavy = import_time(code)
        rows.append({"rule script": name, "import s (best of 3)": seconds, "heavy packages loaded": " ".join(heavy)})
    print_table("Job start-up: a fresh interpreter importing what each rule script imports", rows)


def write_discovery_corpus(directory: Path, speakers: int, clips_per_speaker: int) -> int:
    """``speakers`` folders of empty placeholder audio files, each with a non-audio file that is skipped."""
    corpus = directory / "corpus"
    for speaker in range(speakers):
        folder = corpus / f"speaker {speaker:03d}"
        folder.mkdir(parents=True)
        (folder / "notes.txt").touch()
        for clip in range(clips_per_speaker):
            (folder / f"take_{clip:03d}.wav").touch()
    pairs = [{"content": f"speaker_{i:03d}_take_000", "style": f"speaker_{i + 1:03d}_take_001"} for i in range(10)]
    config = {
        "corpus_dir": str(corpus),
        "pairs": pairs,
        "backbones": {"random_cnn": {}},
        "vocoders": {"griffinlim": {}},
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    return speakers * clips_per_speaker


def discovery(speakers: int = 100, clips_per_speaker: int = 100, repeat: int = 3) -> None:
    with tempfile.TemporaryDirectory() as directory:
        files = write_discovery_corpus(Path(directory), speakers, clips_per_speaker)
        config = yaml.safe_load((Path(directory) / "config.yaml").read_text())
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            pipeline = load_pipeline(config)
            best = min(best, time.perf_counter() - start)
        assert len(pipeline.clips) == files
    print_table(
        f"Corpus discovery: load_pipeline with corpus_dir of {files:,} audio files in {speakers} folders (plus one "
        f"non-audio file each), 10 explicit pairs; target {DISCOVERY_TARGET_SECONDS:g} s",
        [{"clips found": len(pipeline.clips), f"seconds (best of {repeat})": best}],
    )


def demo_dry_run(repeat: int = 3) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as demo_dir, tempfile.TemporaryDirectory() as minimal_dir:
        (Path(demo_dir) / "config.yaml").write_text((REPO / "config.yaml").read_text())
        demo = [dry_run(Path(demo_dir), REPO / "Snakefile") for _ in range(repeat)]
        write_minimal_workflow(Path(minimal_dir), demo[0][2])
        floor = [dry_run(Path(minimal_dir), Path(minimal_dir) / "Snakefile") for _ in range(repeat)]
    for name, runs, target in (("demo config.yaml", demo, DEMO_TARGET_SECONDS), ("minimal Snakefile", floor, "")):
        rows.append({"workflow": name, "jobs planned": runs[0][2], "wall s": min(r[0] for r in runs),
                     "CPU s": min(r[1] for r in runs), "target wall s": target})  # fmt: skip
    print_table(f"Demo dry run: snakemake -n on config.yaml, best of {repeat}", rows)


def run(contents: int = 40, styles: int = 25) -> None:
    demo_dry_run()
    planning(contents, styles)
    start_up()
    discovery()
