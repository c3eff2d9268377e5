"""Rule vocode_output (transfer.batch_pairs > 0): one pair's audio and summary, copied from its style's batch
directory to the pair's own paths. No torch: the job costs an interpreter start and two copies."""

from pathlib import Path

from workflow_scripts.pipeline.artifacts import copy_atomically
from workflow_scripts.pipeline.runtime import run_step


def main() -> None:
    batch, content = Path(snakemake.input.batch), snakemake.wildcards.content
    copy_atomically(batch / f"{content}.wav", snakemake.output.wav)
    copy_atomically(batch / f"{content}.json", snakemake.output.summary)


run_step(snakemake, main)
