# Configuration, sample table, wildcard constraints and input functions shared by every stage.
# Everything imported here is light (no torch, torchvision or librosa): those load only inside jobs.

import os
import re
import sys

from jsonschema import ValidationError
from snakemake.utils import min_version, validate

from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.options import (
    CONVENTION_SAMPLE_RATES,
    EVALUATION_CONVENTION,
    TRANSFER_METHODS,
)
from workflow_scripts.pipeline.provenance import config_hash
from workflow_scripts.pipeline.runtime import (
    clear_failure_records,
    end_of_run_message,
    failure_records,
    write_failures_table,
)
from workflow_scripts.pipeline.schema_errors import schema_error_line
from workflow_scripts.pipeline.settings import load_pipeline, replace_named_sets

min_version("9.0")


replace_named_sets(config, workflow.config_settings.overwrite_config)
try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as error:  # one line instead of jsonschema's dump of the schema
    if not isinstance(error.__context__, ValidationError):
        raise
    raise WorkflowError(schema_error_line(error.__context__, config)) from None
try:
    PIPELINE = load_pipeline(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None


# Stated in metrics.tsv and the report; a param of aggregate_metrics, so any change of the configuration or of the
# clips a sample sheet or corpus_dir resolves to rebuilds the corpus results (never the per-output work, whose own
# params decide that).
CONFIG_HASH = config_hash(
    {**config, "resolved_clips": [vars(clip) for clip in PIPELINE.clips.values()]}
)

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
CONDA_ENV = "../envs/pipeline.yaml"  # relative to the rule files
PATTERNS = {
    "synth": f"{RESULTS}/synth/{{clip}}.wav",
    "trimmed": f"{RESULTS}/trimmed/{{clip}}.wav",
    "resampled": f"{RESULTS}/resampled/{{rate}}hz/{{clip}}.wav",
    "mel": f"{RESULTS}/mel/{{convention}}/{{clip}}.npy",
    "pitch": f"{RESULTS}/pitch/{{convention}}/{{clip}}.npy",
    "style_stats": f"{RESULTS}/style_stats/{{convention}}/{{backbone}}/{{style}}.pt",
    "stylised": f"{RESULTS}/stylised/{{convention}}/{{backbone}}/{{content}}/{{style}}",
    "stylised_batch": f"{RESULTS}/stylised_batches/{{convention}}/{{backbone}}/{{style}}",
    "audio": f"{RESULTS}/audio/{{vocoder}}/{{backbone}}/{{content}}/{{style}}",
    "audio_batch": f"{RESULTS}/audio_batches/{{vocoder}}/{{backbone}}/{{style}}",
    "row": f"{RESULTS}/metrics/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.tsv",
    "metrics": f"{RESULTS}/metrics.tsv",
    "failures": f"{RESULTS}/failures.tsv",
    "output_plot": f"{RESULTS}/plots/{{vocoder}}/{{backbone}}/{{content}}/{{style}}.png",
    "summary_plot": f"{RESULTS}/plots/summary.png",
    "report": f"{RESULTS}/report.html",
}


# How the GPU-capable jobs (style_stats, transfer, vocode) pick and set up their device
# (workflow_scripts/transfer/device.py).
DEVICE = {
    "name": PIPELINE.runtime.device,
    "deterministic": PIPELINE.runtime.deterministic,
}

CLIP_ID = "[^/]+"


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


# Clip ids never contain "/" (schema, discovery); an alternation of every id would make each of Snakemake's path
# matches scan thousands of names in a large corpus.
wildcard_constraints:
    clip=CLIP_ID,
    content=CLIP_ID,
    style=CLIP_ID,
    backbone=_alternatives(PIPELINE.backbones),
    vocoder=_alternatives(PIPELINE.vocoders),
    convention=_alternatives(PIPELINE.conventions),
    rate=r"\d+",


def clip_source(wildcards):
    """The clip's audio file, or the synthesised demo signal."""
    clip = PIPELINE.clips[wildcards.clip]
    return PATTERNS["synth"].format(clip=clip.id) if clip.synth else clip.path


def resampled_for(convention_name, clip):
    rate = CONVENTION_SAMPLE_RATES[convention_name]
    return PATTERNS["resampled"].format(rate=rate, clip=clip)


def vocoder_convention(wildcards):
    return PIPELINE.vocoders[wildcards.vocoder].options.convention


def stylised_stem(wildcards):
    """Stylised output (without suffix) made in the convention of ``wildcards.vocoder``: the only mel it may render."""
    return PATTERNS["stylised"].format(
        convention=vocoder_convention(wildcards), **wildcards
    )


def stylised_mel(wildcards):
    return stylised_stem(wildcards) + ".npy"


def evaluation_inputs(wildcards):
    """What `evaluate` reads of one output besides its audio, all in the vocoder's convention.

    One function for all of them, and no file the job could derive from another (it computes the content and
    style mels from their audio): Snakemake's per-job cost grows with input functions and files, over
    thousands of outputs.
    """
    convention = vocoder_convention(wildcards)
    stylised = stylised_stem(wildcards)
    return {
        "stylised": f"{stylised}.npy",
        "transfer_summary": f"{stylised}.json",
        "content": resampled_for(convention, wildcards.content),
        "style": resampled_for(convention, wildcards.style),
        "content_f0": PATTERNS["pitch"].format(
            convention=EVALUATION_CONVENTION, clip=wildcards.content
        ),
    }


def clip_kinds(wildcards):
    """Which metrics apply: the content's and the style's kind (speech or music)."""
    return {role: PIPELINE.clip_kind(wildcards[role]) for role in ("content", "style")}


def per_output_keys():
    """Wildcards of every rendered output: (content, style) pair x backbone x vocoder."""
    return [
        {"vocoder": v, "backbone": b, "content": c, "style": s}
        for c, s in PIPELINE.pairs
        for b in PIPELINE.backbones
        for v in PIPELINE.vocoders
    ]


def per_output(pattern):
    return [pattern.format(**keys) for keys in per_output_keys()]


def all_rows():
    return per_output(PATTERNS["row"])


# transfer.batch_pairs > 0: one transfer job and one vocode job per style (rules/transfer.smk, rules/vocode.smk)
def contents_by_style(pairs):
    """The contents paired with each style, in pair order."""
    contents = {}
    for content, style in pairs:
        contents.setdefault(style, []).append(content)
    return contents


STYLE_CONTENTS = contents_by_style(PIPELINE.pairs)


def batch_stylised_mels(wildcards):
    """The stylised mels of a style's pairs (one backbone), in the convention of ``wildcards.vocoder``."""
    return [
        PATTERNS["stylised"].format(
            convention=vocoder_convention(wildcards),
            backbone=wildcards.backbone,
            content=content,
            style=wildcards.style,
        )
        + ".npy"
        for content in STYLE_CONTENTS[wildcards.style]
    ]


# The files of what a transfer method reads besides the contents' mels and the style's statistics
# (TRANSFER_METHODS in workflow_scripts/pipeline/options.py): its pattern, and whose clip it is.
METHOD_INPUT_FILES = {
    "style": ("mel", "style"),
    "content_f0": ("pitch", "content"),
    "style_f0": ("pitch", "style"),
}


def transfer_inputs(wildcards):
    """What a transfer job reads: its contents' mels (one pair's, or every content of a style's batch), the style's
    statistics, and what the configured method declares; a content's file is a list entry per content.
    """
    if "content" in wildcards.keys():
        contents = [wildcards.content]
    else:
        contents = STYLE_CONTENTS[wildcards.style]
    inputs = {
        "contents": [
            PATTERNS["mel"].format(convention=wildcards.convention, clip=c)
            for c in contents
        ],
        "style_stats": PATTERNS["style_stats"].format(**wildcards),
    }
    for name in TRANSFER_METHODS[PIPELINE.transfer.method]:
        pattern, role = METHOD_INPUT_FILES[name]
        files = [
            PATTERNS[pattern].format(convention=wildcards.convention, clip=clip)
            for clip in (contents if role == "content" else [wildcards.style])
        ]
        inputs[name] = files if role == "content" else files[0]
    return inputs


CORPUS_RESULTS = {
    name: PATTERNS[name] for name in ("metrics", "summary_plot", "report")
}


def finish_run(dag):
    """End of a run (onsuccess, onerror): results/failures.tsv; after a failure, the corpus results this run was to
    rebuild, made from the outputs that are current (workflow_scripts/pipeline/provisional.py); a report left from
    before this run's changes removed; then where everything is.

    ``dag`` is Snakemake's: the files of jobs it set out to run, and of those it has not finished.
    """
    failed = write_failures_table(LOGS, PATTERNS["failures"])
    planned = {
        str(f) for job in dag.needrun_jobs(exclude_finished=False) for f in job.output
    }
    unfinished = {str(f) for job in dag.needrun_jobs() for f in job.output}
    provisional = []
    if unfinished & set(CORPUS_RESULTS.values()):
        # imported here: pandas, matplotlib and jinja2 would slow every Snakefile parse
        from workflow_scripts.pipeline.provisional import write_provisional_results

        provisional = write_provisional_results(
            outputs=per_output_keys(),
            rows=all_rows(),
            plots=per_output(PATTERNS["output_plot"]),
            audio=per_output(PATTERNS["audio"] + ".wav"),
            clips={
                clip: resampled_for(EVALUATION_CONVENTION, clip)
                for clip in PIPELINE.pair_clips
            },
            targets=CORPUS_RESULTS,
            unfinished=unfinished,
            records=failure_records(LOGS),
            config=config,
            config_hash=CONFIG_HASH,
        )
    page = PATTERNS["report"]
    removed = []
    if PATTERNS["metrics"] in planned and page not in planned and os.path.exists(page):
        os.remove(page)
        removed.append(page)
    message = end_of_run_message(
        outputs=per_output(PATTERNS["audio"] + ".wav"),
        corpus_results=CORPUS_RESULTS,
        failures_table=PATTERNS["failures"],
        failed_jobs=failed,
        provisional=provisional,
        removed=removed,
    )
    print(message, file=sys.stderr)
