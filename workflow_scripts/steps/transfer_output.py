"""Rule transfer_output (transfer.batch_pairs > 0): one pair's stylised mel, history and summary, copied from its
style's batch directory to the pair's own paths. No torch: the job costs an interpreter start and three copies."""

from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.transfer.stylised import batch_paths, copy_stylised


def main() -> None:
    copy_stylised(batch_paths(snakemake.input.batch, snakemake.wildcards.content), snakemake.output)


run_step(snakemake, main)
