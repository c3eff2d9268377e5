"""Rule transfer (one job per pair): style transfer of one (content, style) pair with one backbone."""

import logging

import numpy as np
import torch

from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.pipeline.runtime import job_usage, run_step
from workflow_scripts.transfer.backbones import backbone_from_params
from workflow_scripts.transfer.device import job_device
from workflow_scripts.transfer.optimise import matched_transfer, style_transfer
from workflow_scripts.transfer.style_statistics import load_style_targets
from workflow_scripts.transfer.stylised import write_stylised


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    device = job_device(snakemake.params.device)
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

    write_stylised(
        snakemake.output,
        convention.from_unit(torch.from_numpy(result.unit_mel)).numpy(),
        result.history,
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
