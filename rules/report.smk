rule plot_output:
    """Content, style, stylised and rendered mels of one output on one colour scale and time axis."""
    input:
        content=clip_mel_for("content"),
        style=clip_mel_for("style"),
        stylised=lambda wildcards: stylised_for(wildcards, ".npy"),
        wav=PATTERNS["audio"] + ".wav",
    output:
        png=report(
            PATTERNS["output_plot"],
            category="Spectrograms",
            subcategory="{content} in the style of {style}",
            labels={"backbone": "{backbone}", "vocoder": "{vocoder}"},
        ),
    log:
        f"{LOGS}/plot_output/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.log",
    conda:
        CONDA_ENV
    params:
        convention=vocoder_convention,
    script:
        "../workflow_scripts/steps/plot_output.py"


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
        clips=[resampled_for(EVALUATION.name, clip) for clip in PIPELINE.pair_clips],
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
