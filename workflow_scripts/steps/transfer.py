"""Rule transfer: a mel with one clip's content and another's style under one backbone (knn or gatys)."""

import csv
import logging

import numpy as np
import torch

from workflow_scripts.artifacts import atomic_path, write_json
from workflow_scripts.audio_io import save_array
from workflow_scripts.backbones import backbone_from_params
from workflow_scripts.conventions import get_convention
from workflow_scripts.device import resolve_device
from workflow_scripts.optimise import matched_transfer, style_transfer
from workflow_scripts.options import TransferOptions
from workflow_scripts.runtime import job_usage, run_step
from workflow_scripts.style_statistics import load_style_targets


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    device = resolve_device(snakemake.params.device)
    options = TransferOptions(**snakemake.params.transfer)

    def unit_mel(path: str) -> np.ndarray:
        return convention.to_unit(torch.from_numpy(np.load(path))).numpy()

    content = unit_mel(snakemake.input.content)
    backbone = backbone_from_params(snakemake.params.backbone, convention.n_mels).to(device)
    targets = load_style_targets(snakemake.input.style_stats, backbone, device)
    w = snakemake.wildcards
    logging.info(
        "%s: %s in the style of %s with %s (%s mels) on %s; %s",
        options.method,
        w.content,
        w.style,
        w.backbone,
        w.convention,
        device,
        snakemake.params.transfer,
    )
    if options.method == "knn":
        f0 = {name: np.load(snakemake.input[name]) for name in ("content_f0", "style_f0")}
        style = unit_mel(snakemake.input.style)
        result = matched_transfer(
            content, style, f0["content_f0"], f0["style_f0"], targets, backbone, convention, options, device
        )
    else:
        result = style_transfer(content, targets, backbone, options, device)
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
            "method": options.method,
            "device": str(device),
            "seconds": result.seconds,
            "final": result.final,
            **job_usage(),
        },
    )


run_step(snakemake, main)
