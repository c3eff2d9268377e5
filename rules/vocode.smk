rule vocode:
    """Render a stylised mel with a vocoder, always from the mel made in that vocoder's convention."""
    input:
        mel=stylised_mel,
    output:
        wav=PATTERNS["audio"] + ".wav",
        summary=PATTERNS["audio"] + ".json",
    log:
        f"{LOGS}/vocode/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=config["gpus_per_job"],
    params:
        vocoder=lambda wildcards: PIPELINE.vocoders[wildcards.vocoder].params(),
        device=DEVICE,
        output_format=config["output_format"],
    script:
        "../workflow_scripts/steps/vocode.py"
