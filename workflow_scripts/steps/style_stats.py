"""Rule style_stats: Gram targets of one style clip under one backbone, reused by every pair with that style."""

import logging

import numpy as np
import torch

from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.transfer.backbones import backbone_from_params
from workflow_scripts.transfer.device import job_device
from workflow_scripts.transfer.style_statistics import save_style_targets, style_targets


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    device = job_device(snakemake.params.device)
    style = torch.from_numpy(convention.to_unit_array(np.load(snakemake.input.mel))).to(device)
    backbone = backbone_from_params(snakemake.params.backbone, convention.n_mels).to(device)
    targets = style_targets(backbone, style)
    logging.info("style statistics %s: %s", snakemake.wildcards, {n: sorted(t.to_state()) for n, t in targets.items()})
    save_style_targets(snakemake.output.stats, targets)


run_step(snakemake, main)
