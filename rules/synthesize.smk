rule synthesize:
    """Render a built-in demo signal (clips with `synth:` instead of `path:`)."""
    output:
        wav=PATTERNS["synth"],
    log:
        f"{LOGS}/synthesize/{{clip}}.log",
    conda:
        CONDA_ENV
    params:
        synth=lambda wildcards: PIPELINE.clips[wildcards.clip].synth,
    script:
        "../workflow_scripts/steps/synthesize.py"
