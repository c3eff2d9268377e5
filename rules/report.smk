rule plot_summary:
    """Style match against content preservation, one marker per output."""
    input:
        metrics=PATTERNS["metrics"],
    output:
        png=report(
            PATTERNS["summary_plot"],
            category="Summary",
            labels={"figure": "style match vs content preservation"},
        ),
    log:
        f"{LOGS}/plot_summary.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/steps/plot_summary.py"


rule report:
    """Self-contained HTML page: summary plot, metrics table, every spectrogram and playable output."""
    input:
        metrics=PATTERNS["metrics"],
        summary=PATTERNS["summary_plot"],
        plots=per_output(PATTERNS["output_plot"]),
        audio=per_output(PATTERNS["audio"] + ".wav"),
        clips=[
            resampled_for(EVALUATION_CONVENTION, clip) for clip in PIPELINE.pair_clips
        ],
    output:
        html=PATTERNS["report"],
    log:
        f"{LOGS}/report.log",
    conda:
        CONDA_ENV
    params:
        outputs=per_output_keys(),
        clips=list(PIPELINE.pair_clips),
    script:
        "../workflow_scripts/steps/report.py"
