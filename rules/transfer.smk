# Style transfer of each (content, style) pair with each backbone, in each convention in use: feature matching
# (knn) or Gatys optimisation (gatys). One job per pair, or (transfer.batch_pairs > 0) one job per style that
# transfers all its pairs together, each pair's files then copied to the pair's own paths (docs/gpu.md, Batching).

# What one pair's result depends on, in either mode (transfer_inputs, rules/common.smk): its inputs and params are
# the rerun triggers of its outputs.
PAIR_OUTPUTS = {
    "mel": PATTERNS["stylised"] + ".npy",
    "history": PATTERNS["stylised"] + ".history.tsv",
    "summary": PATTERNS["stylised"] + ".json",
}
TRANSFER_PARAMS = {
    "backbone": lambda wildcards: PIPELINE.backbones[wildcards.backbone].params(),
    "transfer": vars(PIPELINE.transfer),
    "device": DEVICE,
}


if PIPELINE.transfer.batch_pairs:

    rule transfer:
        """All pairs of one style with one backbone, in one mel convention, transferred together into the style's
        batch directory."""
        input:
            unpack(transfer_inputs),
        output:
            batch=directory(PATTERNS["stylised_batch"]),
        log:
            f"{LOGS}/transfer/{{convention}}/{{backbone}}/{{style}}.log",
        conda:
            CONDA_ENV
        threads: PIPELINE.runtime.threads
        resources:
            gpu=PIPELINE.runtime.gpus_per_job,
        params:
            **TRANSFER_PARAMS,
            contents=lambda wildcards: STYLE_CONTENTS[wildcards.style],
        script:
            "../workflow_scripts/steps/transfer.py"

    rule transfer_output:
        """One pair's files, copied from its style's batch. The batch is an ancient() input: a batch rerun for
        another pair's sake does not rewrite this pair's files; the pair's own inputs and params still trigger.
        """
        input:
            unpack(transfer_inputs),
            batch=ancient(PATTERNS["stylised_batch"]),
        output:
            **PAIR_OUTPUTS,
        log:
            f"{LOGS}/transfer_output/{{convention}}/{{backbone}}/{{content}}/{{style}}.log",
        conda:
            CONDA_ENV
        params:
            **TRANSFER_PARAMS,
        script:
            "../workflow_scripts/steps/transfer_output.py"

else:

    rule transfer:
        """Style transfer of one (content, style) pair with one backbone, in one mel convention."""
        input:
            unpack(transfer_inputs),
        output:
            **PAIR_OUTPUTS,
        log:
            f"{LOGS}/transfer/{{convention}}/{{backbone}}/{{content}}/{{style}}.log",
        conda:
            CONDA_ENV
        threads: PIPELINE.runtime.threads
        resources:
            gpu=PIPELINE.runtime.gpus_per_job,
        params:
            **TRANSFER_PARAMS,
        script:
            "../workflow_scripts/steps/transfer.py"
