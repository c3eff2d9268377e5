rule transfer:
    """Style transfer of one (content, style) pair with one backbone, in one mel convention: feature matching
    (knn) or Gatys optimisation (gatys)."""
    input:
        **MATCHING_INPUTS,
        content=PATTERNS["mel"].replace("{clip}", "{content}"),
        style_stats=PATTERNS["style_stats"],
    output:
        mel=PATTERNS["stylised"] + ".npy",
        history=PATTERNS["stylised"] + ".history.tsv",
        summary=PATTERNS["stylised"] + ".json",
    log:
        f"{LOGS}/transfer/{{convention}}/{{backbone}}/{{content}}/{{style}}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=config["gpus_per_job"],
    params:
        backbone=lambda wildcards: PIPELINE.backbones[wildcards.backbone].params(),
        transfer=vars(PIPELINE.transfer),
        device=config["device"],
    script:
        "../workflow_scripts/steps/transfer.py"
