rule style_stats:
    """Gram targets of one style clip for one backbone, in one convention; every pair with that style reuses them."""
    input:
        mel=PATTERNS["mel"].replace("{clip}", "{style}"),
    output:
        stats=PATTERNS["style_stats"],
    log:
        f"{LOGS}/style_stats/{{convention}}/{{backbone}}/{{style}}.log",
    conda:
        CONDA_ENV
    threads: PIPELINE.runtime.threads
    resources:
        gpu=PIPELINE.runtime.gpus_per_job,
    params:
        backbone=lambda wildcards: PIPELINE.backbones[wildcards.backbone].params(),
        device=DEVICE,
    script:
        "../workflow_scripts/steps/style_stats.py"
