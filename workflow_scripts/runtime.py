"""What every rule script needs: logging to the rule's log file, one-line input errors recorded for
``results/failures.tsv``, torch's thread count in the jobs that use torch, and the job's own wall time and memory.

Imports nothing heavy: the Snakefile writes the failure table with it, and jobs that do not use torch never
import it (see :func:`run_step`).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workflow_scripts.artifacts import atomic_path, write_json
from workflow_scripts.errors import InputError

log = logging.getLogger("audio_style")

FAILURE_SUFFIX = ".failure.json"
FAILURE_COLUMNS = ("rule", "job", "message")


def run_step(snakemake: Any, main: Callable[[], None]) -> None:
    """Run a rule script's ``main`` with logging to its log file and stderr.

    An :class:`InputError` (a bad clip or file) is reported as one line naming the file and what to do, and the
    job fails; any other exception is a bug and keeps its traceback. Either way the failure is recorded beside the
    job's log for :func:`write_failures_table`.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    record = Path(snakemake.log[0] + FAILURE_SUFFIX) if snakemake.log else None
    if record is not None:
        record.unlink(missing_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers)
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
            job = ",".join(f"{k}={v}" for k, v in snakemake.wildcards.items())
            write_json(record, {"rule": snakemake.rule, "job": job, "message": message})
        if not isinstance(error, InputError):
            raise
        log.error("%s", error)
        logging.shutdown()
        sys.exit(1)


def job_usage() -> dict[str, float]:
    """Wall time since this job's process started (interpreter start-up and imports included) and its peak resident
    memory so far: what a Snakemake ``benchmark:`` file records, kept in the job's summary instead of a file of its
    own (every file per job costs Snakemake's planning time, over thousands of jobs). Linux: ``/proc``."""
    # field 22 of /proc/self/stat, counted after the parenthesised command name: start time in clock ticks after boot
    started_ticks = int(Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19])
    elapsed = time.clock_gettime(time.CLOCK_BOOTTIME) - started_ticks / os.sysconf("SC_CLK_TCK")
    # VmHWM, the peak of this process image since exec (ru_maxrss would include the parent's at fork, Snakemake's)
    peak_kib = int(re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))
    return {"job_s": round(elapsed, 3), "max_rss_mb": peak_kib / 1024}


def clear_failure_records(logs: str | os.PathLike) -> None:
    """Forget the failures of earlier runs (every failed job is retried, so it records again if it fails)."""
    for record in Path(logs).rglob(f"*{FAILURE_SUFFIX}"):
        record.unlink()


def write_failures_table(logs: str | os.PathLike, table: str | os.PathLike) -> int:
    """Collect the failure records under ``logs`` into a TSV (header only when nothing failed); return the count."""
    rows = sorted(
        (json.loads(record.read_text(encoding="utf-8")) for record in Path(logs).rglob(f"*{FAILURE_SUFFIX}")),
        key=lambda row: (row["rule"], row["job"]),
    )
    with atomic_path(table) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FAILURE_COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
