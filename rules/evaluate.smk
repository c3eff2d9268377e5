rule evaluate:
    """Metrics row (docs/metrics.md) and spectrogram panels (content, style, stylised and rendered
    mels on one colour scale and time axis) of one rendered output."""
    input:
        unpack(evaluation_inputs),
        wav=PATTERNS["audio"] + ".wav",
        vocode_summary=PATTERNS["audio"] + ".json",
    output:
        tsv=PATTERNS["row"],
        png=report(
            PATTERNS["output_plot"],
            category="Spectrograms",
            subcategory="{content} in the style of {style}",
            labels={"backbone": "{backbone}", "vocoder": "{vocoder}"},
        ),
    log:
        f"{LOGS}/evaluate/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.log",
    conda:
        CONDA_ENV
    params:
        kinds=clip_kinds,
    script:
        "../workflow_scripts/steps/evaluate.py"


rule aggregate_metrics:
    """One table, one row per (content, style, backbone, vocoder)."""
    input:
        rows=all_rows(),
    output:
        tsv=report(
            PATTERNS["metrics"], category="Summary", labels={"figure": "metrics table"}
        ),
    log:
        f"{LOGS}/aggregate_metrics.log",
    conda:
        CONDA_ENV
    params:
        config_hash=CONFIG_HASH,
    script:
        "../workflow_scripts/steps/aggregate.py"
