"""The corpus results of a run that failed: ``results/metrics.tsv``, the summary plot and the report, built from
every output that is current and listing the others with the reason, so that one bad clip holds nothing else back
and no table of an earlier run stays in place looking like this run's.

Called by the Snakefile's ``onerror`` handler, in Snakemake's own process, with the files Snakemake set out to
build in this run and did not (``unfinished``): a metrics row among them is stale or missing, so its output counts
as not built. Only the corpus results that were themselves unfinished are written.

They are provisional: each is dated one second before the oldest file it was built from, so that Snakemake sees it
as out of date and the next run rebuilds it through its rule, whether or not the failed outputs are fixed by then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workflow_scripts.metrics.metrics_table import KEY_COLUMNS, aggregate, read_table
from workflow_scripts.pipeline.artifacts import atomic_path
from workflow_scripts.pipeline.provenance import git_commit
from workflow_scripts.pipeline.runtime import failure_of
from workflow_scripts.report.plots import summary_scatter
from workflow_scripts.report.report import Output, render_report

NOT_REACHED = "not built: the run stopped before this output (see results/failures.tsv; --keep-going runs the rest)"


def write_provisional_results(
    *,
    outputs: Sequence[Mapping[str, str]],
    rows: Sequence[str],
    plots: Sequence[str],
    audio: Sequence[str],
    clips: Mapping[str, str],
    targets: Mapping[str, str],
    unfinished: set[str],
    records: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    config_hash: str,
) -> list[str]:
    """Write the unfinished corpus results from the current outputs; return the paths written.

    Parameters
    ----------
    outputs : keys (content, style, backbone, vocoder) of every output of the configuration.
    rows, plots, audio : each output's metrics row, spectrogram PNG and WAV, in the order of ``outputs``.
    clips : conditioned audio of each clip id in a pair, played in the report.
    targets : paths of ``metrics``, ``summary_plot`` and ``report``.
    unfinished : every file this run was to build and did not.
    records : the run's failure records (:func:`workflow_scripts.pipeline.runtime.failure_records`).
    config : the run's configuration, shown in the report.
    config_hash : its hash (:func:`workflow_scripts.pipeline.provenance.config_hash`), stated in the table.
    """
    wanted = {name: path for name, path in targets.items() if path in unfinished}
    if not wanted:
        return []
    current = [i for i, row in enumerate(rows) if row not in unfinished and Path(row).is_file()]
    failed = {
        tuple(outputs[i][k] for k in KEY_COLUMNS): failure_of(outputs[i], records) or NOT_REACHED
        for i in sorted(set(range(len(outputs))) - set(current))
    }
    sources = [rows[i] for i in current]
    if "metrics" in wanted:
        table = aggregate(sources, config_hash=config_hash, commit=git_commit(), failures=failed)
        with atomic_path(wanted["metrics"]) as tmp:
            table.to_csv(tmp, sep="\t", index=False)
    if "summary_plot" in wanted:
        summary_scatter(wanted["summary_plot"], read_table(targets["metrics"]))
    if "report" in wanted:
        render_report(
            wanted["report"],
            metrics_tsv=targets["metrics"],
            summary_plot=targets["summary_plot"],
            outputs=[Output(outputs[i], plots[i], audio[i]) for i in current],
            clips={clip: path for clip, path in clips.items() if Path(path).is_file()},
            config=config,
            failures=records,
        )
    stamp = min((os.stat(path).st_mtime for path in sources), default=1.0) - 1.0
    for path in wanted.values():
        os.utime(path, (stamp, stamp))
    return list(wanted.values())
