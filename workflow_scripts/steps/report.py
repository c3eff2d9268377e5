"""Rule report: the self-contained HTML page of the whole corpus."""

from workflow_scripts.pipeline.runtime import run_step
from workflow_scripts.report.report import Output, render_report


def main() -> None:
    outputs = [
        Output(keys, plot, audio)
        for keys, plot, audio in zip(
            snakemake.params.outputs, snakemake.input.plots, snakemake.input.audio, strict=True
        )
    ]
    render_report(
        snakemake.output.html,
        metrics_tsv=snakemake.input.metrics,
        summary_plot=snakemake.input.summary,
        outputs=outputs,
        clips=dict(zip(snakemake.params.clips, snakemake.input.clips, strict=True)),
        config=snakemake.config,
    )


run_step(snakemake, main)
