# Neural audio style transfer: trim -> resample -> mel -> (style_stats) transfer -> vocode -> evaluate
# (metrics row and spectrograms of each output) -> metrics table, summary plot, report.
# Configuration: config.yaml (schema: schemas/config.schema.yaml). See README.md.


configfile: "config.yaml"


include: "rules/common.smk"


localrules:
    all,
    aggregate_metrics,
    plot_summary,
    report,


rule all:
    default_target: True
    input:
        PATTERNS["metrics"],
        PATTERNS["summary_plot"],


include: "rules/synthesize.smk"
include: "rules/trim.smk"
include: "rules/resample.smk"
include: "rules/mel.smk"
include: "rules/pitch.smk"
include: "rules/style_stats.smk"
include: "rules/transfer.smk"
include: "rules/vocode.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


onstart:
    clear_failure_records(LOGS)


onsuccess:
    finish_run(workflow.dag)


onerror:
    finish_run(workflow.dag)
