"""Rule transfer: optimise a mel with one clip's content and another's style under one backbone."""

import csv
import logging

import numpy as np
import torch

from workflow_scripts.artifacts import atomic_path, write_json
from workflow_scripts.audio_io import save_array
from workflow_scripts.backbones import backbone_from_params
from workflow_scripts.conventions import get_convention
from workflow_scripts.device import resolve_device
from workflow_scripts.optimise import style_transfer
from workflow_scripts.options import TransferOptions
from workflow_scripts.runtime import job_usage, run_step
from workflow_scripts.style_statistics import load_style_targets


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    device = resolve_device(snakemake.params.device)
    content = convention.to_unit(torch.from_numpy(np.load(snakemake.input.content))).numpy()
    backbone = backbone_from_params(snakemake.params.backbone, convention.n_mels).to(device)
    style = load_style_targets(snakemake.input.style_stats, backbone, device)
    w = snakemake.wildcards
    logging.info(
        "optimising %s in the style of %s with %s (%s mels) on %s; %s",
        w.content,
        w.style,
        w.backbone,
        w.convention,
        device,
        snakemake.params.transfer,
    )
    result = style_transfer(content, style, backbone, TransferOptions(**snakemake.params.transfer), device)
    logging.info("done in %.1f s: %s", result.seconds, result.final)

    save_array(snakemake.output.mel, convention.from_unit(torch.from_numpy(result.unit_mel)).numpy())
    with atomic_path(snakemake.output.history) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(result.final), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(result.history)
    write_json(
        snakemake.output.summary,
        {
            "convention": convention.name,
            "backbone": snakemake.wildcards.backbone,
            "device": str(device),
            "seconds": result.seconds,
            "final": result.final,
            **job_usage(),
        },
    )


run_step(snakemake, main)
