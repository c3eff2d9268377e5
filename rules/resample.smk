rule resample:
    """Mono mix-down, resampling to a convention's sample rate and level normalisation."""
    input:
        wav=PATTERNS["trimmed"],
    output:
        wav=PATTERNS["resampled"],
    log:
        f"{LOGS}/resample/{{rate}}hz/{{clip}}.log",
    conda:
        CONDA_ENV
    params:
        normalise=vars(PIPELINE.normalise),
    script:
        "../workflow_scripts/steps/resample.py"
