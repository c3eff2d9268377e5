"""Backbones: seconds per optimisation iteration (forward + backward of the objective) and peak memory.

Each (backbone, duration) case runs in a fresh subprocess so its peak resident memory is its own. Default
options of every registered backbone, seeded random weights, content ``content2`` and style ``style2`` (10 s).
"""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from benchmarks.common import clip, peak_rss_mb, print_table, source_of, timed
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.transfer.backbones import BACKBONES
from workflow_scripts.transfer.optimise import Objective
from workflow_scripts.transfer.style_statistics import style_targets

BASELINE = "random_cnn"


def unit_mel(name: str, seconds: float) -> torch.Tensor:
    return torch.from_numpy(HIFIGAN.unit_mel(clip(name, HIFIGAN.sample_rate, seconds)))


def measure(kind: str, seconds: float) -> dict[str, float]:
    """One case, in this process: best of two iterations (the first also warms up)."""
    content, style = unit_mel("content2", seconds), unit_mel("style2", 10.0)
    backbone = BACKBONES[kind](BACKBONES[kind].Options(), HIFIGAN.n_mels)
    objective = Objective(backbone, content, style_targets(backbone, style))
    mel = content.clone().requires_grad_(True)

    def iteration() -> None:
        mel.grad = None
        objective(mel)[0].backward()

    iteration_s, _ = timed(iteration, repeat=2)
    return {"frames": content.shape[1], "iteration_s": iteration_s, "peak_rss_mb": peak_rss_mb()}


def run(durations: tuple[float, ...] = (10.0, 60.0)) -> None:
    rows = []
    for seconds in durations:
        cases = {}
        for kind in BACKBONES:
            command = [sys.executable, "-m", "benchmarks.backbones", kind, str(seconds)]
            cases[kind] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        for kind, case in cases.items():
            rows.append(
                {
                    "backbone": kind,
                    "clip s": seconds,
                    "frames": case["frames"],
                    "s / iteration": case["iteration_s"],
                    f"x {BASELINE}": case["iteration_s"] / cases[BASELINE]["iteration_s"],
                    "peak RSS MiB": case["peak_rss_mb"],
                }
            )
    print_table(
        f"Backbones: one optimisation iteration (objective forward + backward), default options, random weights, "
        f"content2 ({source_of('content2')}) tiled, 10 s style, {torch.get_num_threads()} threads",
        rows,
    )


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], float(sys.argv[2]))))
