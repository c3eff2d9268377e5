rule pitch:
    """F0 of a clip at the centre of each mel frame of one convention (CREPE; NaN where unvoiced)."""
    input:
        wav=lambda wildcards: resampled_for(wildcards.convention, wildcards.clip),
    output:
        f0=PATTERNS["pitch"],
    log:
        f"{LOGS}/pitch/{{convention}}/{{clip}}.log",
    conda:
        CONDA_ENV
    threads: PIPELINE.runtime.threads
    script:
        "../workflow_scripts/steps/pitch.py"
