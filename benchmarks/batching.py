"""Corpus throughput of the transfer stage: one job per pair against one batched job per style
(``transfer.batch_pairs``), through the real pipeline.

Each case is a working directory under ``bench_out/batching/`` whose corpus is ``contents`` content clips (the
seed example content2, or a demo synth, cut at different offsets) and one style clip, all ``seconds`` long. The
stages before the transfer (trim, resample, mel, pitch, style statistics) run first and are not timed; then the
transfer stage (``snakemake`` on every pair's stylised mel) is timed as a user runs it: Snakemake's start-up and
planning, every job's interpreter start-up, imports and device initialisation, and the transfers. Both methods,
``config.yaml``'s options otherwise, random_cnn, with ``--cores`` equal to the config's ``threads`` (one job at a
time, all threads to it).

Without CUDA: 8 pairs of 2 s clips on the CPU (a scaled-down corpus: the CPU run of 64 x 10 s would take an
hour). With CUDA: 64 pairs of 10 s clips on the GPU, the corpus of the GPU targets (docs/gpu.md).

``make bench corpus`` (:func:`run_corpus`) times the GPU target's whole user run instead: ``snakemake`` from the
audio files to HiFi-GAN's audio of every pair (trim, resample, mel, pitch, style statistics, knn transfer with
random_cnn, vocoding), start-ups included, with one job per pair and with the batched jobs of
``batch_pairs: auto`` on a GPU. ``CORPUS_PAIRS`` and ``CORPUS_SECONDS`` size it (default 64 x 10 s with CUDA,
4 x 10 s without); ``CORPUS_MODES`` picks the cases (``per-pair,batched``; with CUDA the default is ``batched``
alone, as 64 GPU jobs of one pair each would take about ten minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import soundfile as sf
import torch
import yaml

from benchmarks.common import clip, print_table, source_of
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.pipeline.settings import GPU_BATCH_PAIRS

REPO = Path(__file__).resolve().parents[1]
ROOT = Path("bench_out/batching")
STYLE = "style2"
BATCH_PAIRS = 64


def corpus_size() -> tuple[int, float, str]:
    """(content clips, seconds per clip, device) of this machine's run."""
    return (64, 10.0, "cuda") if torch.cuda.is_available() else (8, 2.0, "cpu")


def write_corpus(workdir: Path, contents: int, seconds: float) -> list[dict]:
    """``contents`` different content clips (one recording, each cut from another offset) and the style clip."""
    rate = HIFIGAN.sample_rate
    length = int(seconds * rate)
    long = clip("content2", rate, seconds * contents)
    entries = []
    for index in range(contents):
        offset = index * length
        path = workdir / "audio" / f"content{index:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, long[offset : offset + length], rate, subtype="FLOAT")
        entries.append({"id": path.stem, "path": str(path.relative_to(workdir)), "vad": "none", "role": "content"})
    style_path = workdir / "audio" / f"{STYLE}.wav"
    sf.write(style_path, clip(STYLE, rate, seconds), rate, subtype="FLOAT")
    return [*entries, {"id": STYLE, "path": str(style_path.relative_to(workdir)), "vad": "none", "role": "style"}]


def snakemake(workdir: Path, cores: int, *arguments: str) -> float:
    """Wall seconds of one ``snakemake`` run in ``workdir`` (one GPU job at a time where there is a GPU)."""
    # targets before --resources and --quiet, whose optional values would swallow them
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--cores", str(cores), *arguments, "--resources", "gpu=1", "--quiet", "rules"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def transfer_stage(method: str, batch_pairs: int, contents: int, seconds: float, device: str) -> float:
    """Seconds of the timed transfer stage of one case (its earlier stages run first, untimed)."""
    workdir = ROOT / f"{method}-{'batched' if batch_pairs else 'per-pair'}"
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(clips=write_corpus(workdir, contents, seconds), pairs="cross", device=device)
    config["transfer"] = {**config["transfer"], "method": method, "batch_pairs": batch_pairs}
    config["vocoders"] = {"griffinlim": config["vocoders"]["griffinlim"]}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cores = config["threads"]
    # explicit targets: `--until mel pitch style_stats` left style_stats unscheduled in Snakemake 9.27 ("BUG: Out
    # of jobs ready to be started")
    clips = [*(f"content{i:02d}" for i in range(contents)), STYLE]
    earlier = [f"results/{stage}/hifigan/{clip}.npy" for stage in ("mel", "pitch") for clip in clips]
    snakemake(workdir, cores, *earlier, f"results/style_stats/hifigan/random_cnn/{STYLE}.pt")
    for stage in ("stylised", "stylised_batches"):  # so that the timed run transfers every pair
        shutil.rmtree(workdir / "results" / stage, ignore_errors=True)
    targets = [f"results/stylised/hifigan/random_cnn/content{i:02d}/{STYLE}.npy" for i in range(contents)]
    return snakemake(workdir, cores, *targets)


def run() -> None:
    contents, seconds, device = corpus_size()
    rows = []
    for method in ("knn", "gatys"):
        times = {mode: transfer_stage(method, batch, contents, seconds, device)
                 for mode, batch in (("one job per pair", 0), ("batched", BATCH_PAIRS))}  # fmt: skip
        for mode, elapsed in times.items():
            rows.append({"method": method, "transfer jobs": mode, "stage s": elapsed,
                         "pairs / minute": 60 * contents / elapsed,
                         "x one job per pair": times["one job per pair"] / elapsed})  # fmt: skip
    print_table(
        f"Batching: transfer stage of {contents} pairs ({contents} contents of {seconds:g} s cut from content2 "
        f"({source_of('content2')}) x 1 style), random_cnn, config.yaml's options, on {device}; whole snakemake "
        f"runs (start-up, job start-ups, transfers); batched: one job, {BATCH_PAIRS} problems at a time",
        rows,
    )


def corpus_run(batch_pairs: int, contents: int, seconds: float, device: str) -> float:
    """Seconds of the whole user run of one case, from a fresh working directory (the audio files only)."""
    workdir = ROOT / f"corpus-{'batched' if batch_pairs else 'per-pair'}"
    shutil.rmtree(workdir, ignore_errors=True)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(clips=write_corpus(workdir, contents, seconds), pairs="cross", device=device)
    config["transfer"] = {**config["transfer"], "method": "knn", "batch_pairs": batch_pairs}
    config["vocoders"] = {"hifigan": config["vocoders"]["hifigan"]}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [f"results/audio/hifigan/random_cnn/content{i:02d}/{STYLE}.wav" for i in range(contents)]
    return snakemake(workdir, os.cpu_count() if device == "cuda" else config["threads"], *targets)


def run_corpus() -> None:
    default = (64, 10.0) if torch.cuda.is_available() else (4, 10.0)
    contents = int(os.environ.get("CORPUS_PAIRS", default[0]))
    seconds = float(os.environ.get("CORPUS_SECONDS", default[1]))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    wanted = os.environ.get("CORPUS_MODES", "batched" if device == "cuda" else "per-pair,batched").split(",")
    modes = {"per-pair": ("one job per pair", 0), "batched": (f"batched ({GPU_BATCH_PAIRS})", GPU_BATCH_PAIRS)}
    times = {modes[mode][0]: corpus_run(modes[mode][1], contents, seconds, device) for mode in wanted}
    baseline = times.get(modes["per-pair"][0])
    rows = [{"transfer and vocode jobs": mode, "snakemake s": elapsed, "pairs / minute": 60 * contents / elapsed,
             "x one job per pair": baseline / elapsed if baseline else "-",
             "target": "< 60 s" if (contents, seconds, device) == (64, 10.0, "cuda") else "-"}
            for mode, elapsed in times.items()]  # fmt: skip
    print_table(
        f"Corpus: {contents} pairs ({contents} contents of {seconds:g} s cut from content2 ({source_of('content2')}) "
        f"x 1 style) from audio to HiFi-GAN audio: trim, resample, mel, pitch, style statistics, knn transfer "
        f"(random_cnn), vocoding; one snakemake run from scratch each, start-ups included, on {device}",
        rows,
    )
