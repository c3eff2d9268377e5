# Rendering each stylised mel with each vocoder, always from the mel made in that vocoder's convention. One job
# per pair, or (transfer.batch_pairs > 0, as the transfers) one job per style and backbone that renders all its
# pairs, each pair's files then copied to the pair's own paths (docs/gpu.md, Batching pairs).

VOCODE_PARAMS = {
    "vocoder": lambda wildcards: PIPELINE.vocoders[wildcards.vocoder].params(),
    "device": DEVICE,
    "output_format": PIPELINE.output_format,
}
PAIR_AUDIO = {
    "wav": PATTERNS["audio"] + ".wav",
    "summary": PATTERNS["audio"] + ".json",
}


if PIPELINE.transfer.batch_pairs:

    rule vocode:
        """All pairs of one style and backbone rendered by one vocoder into the style's batch directory: the
        device's start-up and the model's load are paid once per style."""
        input:
            mels=batch_stylised_mels,
        output:
            batch=directory(PATTERNS["audio_batch"]),
        log:
            f"{LOGS}/vocode/{{vocoder}}/{{backbone}}/{{style}}.log",
        conda:
            CONDA_ENV
        threads: PIPELINE.runtime.threads
        resources:
            gpu=PIPELINE.runtime.gpus_per_job,
        params:
            **VOCODE_PARAMS,
            contents=lambda wildcards: STYLE_CONTENTS[wildcards.style],
        script:
            "../workflow_scripts/steps/vocode_batch.py"

    rule vocode_output:
        """One pair's audio and summary, copied from its style's batch. The batch is an ancient() input: a batch
        rerun for another pair's sake does not rewrite this pair's files; the pair's own mel and params still
        trigger."""
        input:
            mel=stylised_mel,
            batch=ancient(PATTERNS["audio_batch"]),
        output:
            **PAIR_AUDIO,
        log:
            f"{LOGS}/vocode_output/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.log",
        conda:
            CONDA_ENV
        params:
            **VOCODE_PARAMS,
        script:
            "../workflow_scripts/steps/vocode_output.py"

else:

    rule vocode:
        """Render a stylised mel with a vocoder, always from the mel made in that vocoder's convention."""
        input:
            mel=stylised_mel,
        output:
            **PAIR_AUDIO,
        log:
            f"{LOGS}/vocode/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.log",
        conda:
            CONDA_ENV
        threads: PIPELINE.runtime.threads
        resources:
            gpu=PIPELINE.runtime.gpus_per_job,
        params:
            **VOCODE_PARAMS,
        script:
            "../workflow_scripts/steps/vocode.py"
