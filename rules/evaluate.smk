rule evaluate:
    """Metrics of one rendered output (README: Evaluation metrics)."""
    input:
        wav=PATTERNS["audio"] + ".wav",
        vocode_summary=PATTERNS["audio"] + ".json",
        vocode_benchmark=PATTERNS["vocode_benchmark"],
        stylised=lambda wildcards: stylised_for(wildcards, ".npy"),
        transfer_summary=lambda wildcards: stylised_for(wildcards, ".json"),
        transfer_benchmark=transfer_benchmark_for,
        content=clip_audio_for("content"),
        style=clip_audio_for("style"),
    output:
        tsv=PATTERNS["row"],
    log:
        f"{LOGS}/evaluate/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.log",
    conda:
        CONDA_ENV
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
    script:
        "../workflow_scripts/steps/aggregate.py"
