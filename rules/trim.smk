rule trim:
    """Trim leading/trailing silence with the clip's VAD method (webrtcvad, energy or none)."""
    input:
        audio=clip_source,
    output:
        wav=PATTERNS["trimmed"],
    log:
        f"{LOGS}/trim/{{clip}}.log",
    conda:
        CONDA_ENV
    params:
        trim=lambda wildcards: vars(PIPELINE.trim_settings(wildcards.clip)),
    script:
        "../workflow_scripts/steps/trim.py"
