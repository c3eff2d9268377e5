"""Rule transfer (transfer.batch_pairs > 0): every content paired with one style, with one backbone, transferred in
one job as batched problems (workflow_scripts/transfer/optimise.py), each pair's files written into the style's batch
directory (rule transfer_output copies them to the pair's own paths)."""

import logging

import numpy as np
import torch

from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.pipeline.runtime import job_usage, run_step
from workflow_scripts.transfer.backbones import backbone_from_params
from workflow_scripts.transfer.device import job_device
from workflow_scripts.transfer.optimise import matched_transfer_batch, style_transfer_batch
from workflow_scripts.transfer.style_statistics import load_style_targets
from workflow_scripts.transfer.stylised import batch_paths, write_stylised


def main() -> None:
    convention = get_convention(snakemake.wildcards.convention)
    device = job_device(snakemake.params.device)
    options = TransferOptions(**snakemake.params.transfer)

    def unit_mel(path: str) -> np.ndarray:
        return convention.to_unit(torch.from_numpy(np.load(path))).numpy()

    names = snakemake.params.contents
    # neighbours in length share a padded batch with little padding
    order = sorted(range(len(names)), key=lambda i: np.load(snakemake.input.contents[i], mmap_mode="r").shape[1])
    contents = [unit_mel(snakemake.input.contents[i]) for i in order]
    backbone = backbone_from_params(snakemake.params.backbone, convention.n_mels).to(device)
    targets = load_style_targets(snakemake.input.style_stats, backbone, device)
    w = snakemake.wildcards
    logging.info(
        "%s: %d contents in the style of %s with %s (%s mels) on %s, %s problems at a time; %s",
        options.method,
        len(names),
        w.style,
        w.backbone,
        w.convention,
        device,
        options.batch_pairs,
        snakemake.params.transfer,
    )
    if options.method == "knn":
        content_f0s = [np.load(snakemake.input.content_f0s[i]) for i in order]
        style, style_f0 = unit_mel(snakemake.input.style), np.load(snakemake.input.style_f0)
        results = matched_transfer_batch(
            contents, content_f0s, style, style_f0, targets, backbone, convention, options, device
        )
    else:
        results = style_transfer_batch(contents, targets, backbone, options, device)
    usage = job_usage()
    logging.info("done in %.1f s", results[0].seconds)
    for index, result in zip(order, results, strict=True):
        write_stylised(
            batch_paths(snakemake.output.batch, names[index]),
            convention.from_unit(torch.from_numpy(result.unit_mel)).numpy(),
            result.history,
            {
                "convention": convention.name,
                "backbone": w.backbone,
                "method": options.method,
                "device": str(device),
                # the batch job's: its time, wall time and peak memory are shared by its pairs
                "seconds": result.seconds,
                "final": result.final,
                **usage,
                "batch": {"style": w.style, "pairs": len(names)},
            },
        )


run_step(snakemake, main)
