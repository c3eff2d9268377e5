"""What every rule script needs: logging to the rule's log file, one-line input errors recorded for
``results/failures.tsv``, torch's thread count in the jobs that use torch, and the job's own wall time and memory.

Imports nothing heavy: the Snakefile writes the failure table with it, and jobs that do not use torch never
import it (see :func:`run_step`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from workflow_scripts.pipeline.artifacts import atomic_path, write_json
from workflow_scripts.pipeline.errors import InputError

log = logging.getLogger("audio_style")

FAILURE_SUFFIX = ".failure.json"
FAILURE_COLUMNS = ("rule", "job", "message")
# A job's progress bar is shown as a line at most this often (seconds).
PROGRESS_INTERVAL_S = 10.0
# The end-of-run message lists this many outputs by name, then counts the rest.
MAX_LISTED_OUTPUTS = 8


def job_label(rule: str, wildcards: Mapping[str, str]) -> str:
    """``rule`` and its wildcard values, e.g. ``pitch hifigan/content1``: what every log line of a job starts with,
    so that lines of jobs running side by side say whose they are."""
    return " ".join([rule, "/".join(wildcards.values())]).strip()


class ProgressLines(io.TextIOBase):
    """A job's stderr: complete lines pass through; a progress bar, which tqdm redraws in place with carriage
    returns and which would run into the lines of other jobs on the same terminal, becomes a line of its own,
    prefixed with the job's label, at most once per :data:`PROGRESS_INTERVAL_S`."""

    def __init__(self, stream: TextIO, label: str) -> None:
        super().__init__()
        self.stream, self.label = stream, label
        self.pending = ""
        self.shown = -math.inf

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for piece in re.split(r"([\r\n])", text):
            if piece == "\n":
                self.stream.write(self.pending + "\n")
                self.pending = ""
            elif piece == "\r":
                bar, self.pending = self.pending.strip(), ""
                if bar and time.monotonic() - self.shown >= PROGRESS_INTERVAL_S:
                    self.shown = time.monotonic()
                    self.stream.write(f"[{self.label}] {bar}\n")
            else:
                self.pending += piece
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:  # for code that writes to the descriptor itself (C extensions, subprocesses)
        return self.stream.fileno()


def run_step(snakemake: Any, main: Callable[[], None]) -> None:
    """Run a rule script's ``main`` with logging to its log file and stderr, every line labelled with the job
    (:func:`job_label`) and progress bars turned into occasional lines (:class:`ProgressLines`).

    An :class:`InputError` (a bad clip or file) is reported as one line naming the file and what to do, and the
    job fails; any other exception is a bug and keeps its traceback. Either way the failure is recorded beside the
    job's log for :func:`write_failures_table`.
    """
    label = job_label(snakemake.rule, dict(snakemake.wildcards.items()))
    sys.stderr = ProgressLines(sys.stderr, label)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    record = Path(snakemake.log[0] + FAILURE_SUFFIX) if snakemake.log else None
    if record is not None:
        record.unlink(missing_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8"))
    line_format = f"%(asctime)s %(levelname)s [{label}] %(message)s"
    logging.basicConfig(level=logging.INFO, format=line_format, handlers=handlers)
    # A rule script that uses torch has imported it by now (its imports run before this call). Importing it here
    # for the others would add seconds to every job that never touches a tensor.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(max(int(snakemake.threads), 1))
    try:
        main()
    except Exception as error:
        if record is not None:
            message = str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
            wildcards = dict(snakemake.wildcards.items())
            job = ",".join(f"{k}={v}" for k, v in wildcards.items())
            write_json(record, {"rule": snakemake.rule, "job": job, "message": message, "wildcards": wildcards})
        if not isinstance(error, InputError):
            raise
        log.error("%s", error)
        logging.shutdown()
        sys.exit(1)


def job_usage() -> dict[str, float]:
    """Wall time since this job's process started (interpreter start-up and imports included), its peak resident
    memory and its CPU time (user + system, all threads: less disturbed by a loaded machine than wall time) so far:
    what a Snakemake ``benchmark:`` file records, kept in the job's summary instead of a file of its own (every file
    per job costs Snakemake's planning time, over thousands of jobs). Linux: ``/proc``."""
    # field 22 of /proc/self/stat, counted after the parenthesised command name: start time in clock ticks after boot
    started_ticks = int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])
    elapsed = time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    # VmHWM, the peak of this process image since exec (ru_maxrss would include the parent's at fork, Snakemake's)
    peak_kib = int(re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))
    cpu = os.times()  # user and system time of this process's threads (of children that were waited for: apart)
    return {"job_s": round(elapsed, 3), "max_rss_mb": peak_kib / 1024, "cpu_s": round(cpu.user + cpu.system, 3)}


def clear_failure_records(logs: str | os.PathLike) -> None:
    """Forget the failures of earlier runs (every failed job is retried, so it records again if it fails)."""
    for record in Path(logs).rglob(f"*{FAILURE_SUFFIX}"):
        record.unlink()


def failure_records(logs: str | os.PathLike) -> list[dict[str, Any]]:
    """The failures recorded under ``logs`` in this run (``rule``, ``job``, ``message``, ``wildcards``), sorted."""
    return sorted(
        (json.loads(record.read_text(encoding="utf-8")) for record in Path(logs).rglob(f"*{FAILURE_SUFFIX}")),
        key=lambda row: (row["rule"], row["job"]),
    )


def write_failures_table(logs: str | os.PathLike, table: str | os.PathLike) -> int:
    """Collect the failure records under ``logs`` into a TSV (header only when nothing failed); return the count."""
    rows = failure_records(logs)
    with atomic_path(table) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FAILURE_COLUMNS, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def failure_of(output: Mapping[str, str], records: Sequence[Mapping[str, Any]]) -> str:
    """Why ``output`` (its ``content``, ``style``, ``backbone`` and ``vocoder``) was not built: the messages of the
    failed jobs it depends on, joined with "; " ("" when none did).

    A job is upstream of the output when its wildcards agree with the output's keys: a ``clip`` is the output's
    content or style, and the other keys it has are equal. ``convention`` and ``rate`` are not compared (a failure
    in another convention of the same pair counts), which can only name too many failures, never too few.
    """
    messages = []
    for record in records:
        wildcards = record.get("wildcards", {})
        if not wildcards:  # a corpus-wide job (aggregate, report): upstream of no single output
            continue
        clip_matches = wildcards.get("clip", output["content"]) in (output["content"], output["style"])
        if clip_matches and all(wildcards[key] == value for key, value in output.items() if key in wildcards):
            messages.append(f"{record['rule']}: {record['message']}")
    return "; ".join(messages)


def end_of_run_message(
    *,
    outputs: Sequence[str],
    corpus_results: Mapping[str, str],
    failures_table: str,
    failed_jobs: int,
    provisional: Sequence[str] = (),
    removed: Sequence[str] = (),
) -> str:
    """What a run leaves the user: where the outputs and the corpus results are, and what failed.

    Parameters
    ----------
    outputs : every rendered output of the configuration (only the ones that exist are counted).
    corpus_results : label -> path of the metrics table, the summary plot and the report.
    failures_table : ``results/failures.tsv``.
    failed_jobs : jobs that failed in this run (listed in ``failures_table``).
    provisional : corpus results rewritten from the outputs that were built, after a failure.
    removed : corpus results of an earlier run, deleted because this run changed what they summarise.
    """
    built = [path for path in outputs if Path(path).is_file()]
    lines = [f"{len(built)} of {len(outputs)} outputs are in place" + (":" if built else ".")]
    lines += [f"  {path}" for path in built[:MAX_LISTED_OUTPUTS]]
    if len(built) > MAX_LISTED_OUTPUTS:
        lines.append(f"  ... and {len(built) - MAX_LISTED_OUTPUTS} more under {os.path.commonpath(built)}")
    for label, path in corpus_results.items():
        state = "provisional" if path in provisional else "" if Path(path).is_file() else "missing"
        if state == "missing" and label == "report":
            state = f"not built by this run's targets: ask for {path} (make report; audio-style-transfer --report)"
        lines.append(f"{label.replace('_', ' ')}: {path}" + (f" ({state})" if state else ""))
    if failed_jobs:
        lines.append(f"{failed_jobs} job(s) failed; see {failures_table}")
    if provisional:
        lines.append("Provisional results cover the outputs that were built and list the failures; the next run "
                     "rebuilds them.")  # fmt: skip
    lines += [f"Removed {path}: it summarised an earlier run (make report rebuilds it)." for path in removed]
    return "\n".join(lines)
