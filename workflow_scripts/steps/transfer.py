"""Rule transfer: the contents of one job in the style of one clip with one backbone, by the configured method
(workflow_scripts/transfer/methods.py). One job per pair writes the pair's files; with transfer.batch_pairs > 0 one
job per style transfers all its contents as batched problems and writes each pair's files into the style's batch
directory (rule transfer_output copies them to the pair's own paths)."""

import logging

import numpy as np

from workflow_scripts.audio.conventions import get_convention
from workflow_scripts.pipeline.options import TRANSFER_METHODS, TransferOptions
from workflow_scripts.pipeline.runtime import job_usage, run_step
from workflow_scripts.transfer.backbones import backbone_from_params
from workflow_scripts.transfer.device import job_device
from workflow_scripts.transfer.interface import Content, Setup, StyleClip
from workflow_scripts.transfer.methods import METHODS
from workflow_scripts.transfer.style_statistics import load_style_targets
from workflow_scripts.transfer.stylised import batch_paths, write_stylised


def main() -> None:
    w, inputs = snakemake.wildcards, snakemake.input
    convention = get_convention(w.convention)
    device = job_device(snakemake.params.device)
    options = TransferOptions(**snakemake.params.transfer)
    reads = TRANSFER_METHODS[options.method]
    batch = "batch" in snakemake.output.keys()
    names = snakemake.params.contents if batch else [w.content]
    # neighbours in length share a padded batch with little padding
    order = sorted(range(len(names)), key=lambda i: np.load(inputs.contents[i], mmap_mode="r").shape[1])
    contents = [Content(convention.to_unit_array(np.load(inputs.contents[i])),
                        np.load(inputs.content_f0[i]) if "content_f0" in reads else None)
                for i in order]  # fmt: skip
    backbone = backbone_from_params(snakemake.params.backbone, convention.n_mels).to(device)
    style = StyleClip(
        load_style_targets(inputs.style_stats, backbone, device),
        convention.to_unit_array(np.load(inputs.style)) if "style" in reads else None,
        np.load(inputs.style_f0) if "style_f0" in reads else None,
    )
    logging.info(
        "%s: %s in the style of %s with %s (%s mels) on %s, %s problems at a time; %s",
        options.method,
        ", ".join(names),
        w.style,
        w.backbone,
        w.convention,
        device,
        options.batch_pairs or 1,
        snakemake.params.transfer,
    )
    results = METHODS[options.method](contents, style, Setup.of(backbone, convention, options, device))
    usage = job_usage()
    logging.info("done in %.1f s", results[0].seconds)
    for index, result in zip(order, results, strict=True):
        logging.info("%s: %s", names[index], result.final)
        summary = {
            "convention": convention.name,
            "backbone": w.backbone,
            "method": options.method,
            "device": str(device),
            # in a batch, the batch job's: its time, wall time and peak memory are shared by its pairs
            "seconds": result.seconds,
            "final": result.final,
            **usage,
        }
        if batch:
            summary["batch"] = {"style": w.style, "pairs": len(names)}
        paths = batch_paths(snakemake.output.batch, names[index]) if batch else snakemake.output
        write_stylised(paths, convention.from_unit_array(result.unit_mel), result.history, summary)


run_step(snakemake, main)
