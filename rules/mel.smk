rule mel:
    """Mel features of a clip in one convention (float32 .npy, n_mels x frames)."""
    input:
        wav=lambda wildcards: resampled_for(wildcards.convention, wildcards.clip),
    output:
        mel=PATTERNS["mel"],
    log:
        f"{LOGS}/mel/{{convention}}/{{clip}}.log",
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/steps/mel.py"
