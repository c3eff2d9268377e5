rule evaluate:
    """Metrics of one rendered output."""
    input:
        wav=PATTERNS["audio"] + ".wav",
        vocode_summary=PATTERNS["audio"] + ".json",
        transfer_summary=lambda wildcards: stylised_for(wildcards, ".json"),
        content=lambda wildcards: resampled_for(
            vocoder_convention(wildcards), wildcards.content
        ),
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
        tsv=PATTERNS["metrics"],
    log:
        f"{LOGS}/aggregate_metrics.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/steps/aggregate.py"
