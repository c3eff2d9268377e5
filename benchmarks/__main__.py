"""`make bench`: every benchmark section, measured in one run on this machine.

Usage: python -m benchmarks [section ...]   (default: all sections)
"""

from __future__ import annotations

import platform
import sys

import torch

from benchmarks import (
    backbones,
    batching,
    dag,
    evaluation,
    gpu,
    griffinlim,
    long_clips,
    optimiser,
    quality,
    transfer,
    vocoders,
)

SECTIONS = {
    "transfer": transfer.run,
    "griffinlim": griffinlim.run,
    "dag": dag.run,
    "vocoders": vocoders.run,
    "backbones": backbones.run,
    "evaluation": evaluation.run,
    "long_clips": long_clips.run,
    "quality": quality.run,
    "quality_levers": quality.run_levers,
    "batching": batching.run,
    "corpus": batching.run_corpus,
    "gpu": gpu.run,
    "optimiser": optimiser.run,
}
# Parts of a section, run only when named: long_clips runs both; evaluation runs evaluation_metrics and evaluation_jobs
PARTS = {
    "long_transfer": long_clips.run_transfer,
    "long_vocoders": long_clips.run_vocoders,
    "long_windows": long_clips.run_windows,
    "evaluation_metrics": evaluation.run_metrics,
    "evaluation_jobs": evaluation.run_jobs,
}


def main(argv: list[str]) -> None:
    selected = argv or list(SECTIONS)
    known = {**SECTIONS, **PARTS}
    unknown = sorted(set(selected) - set(known))
    if unknown:
        sys.exit(f"unknown benchmark section {unknown[0]!r}; known: {', '.join(known)}")
    print(f"# Benchmarks on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, CUDA {'yes' if torch.cuda.is_available() else 'no'}")  # fmt: skip
    for name in selected:
        known[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
