"""The tiny pipeline through `--profile profiles/slurm` on a real one-node SLURM cluster on localhost.

Run with `make test-slurm` (needs root: tests/slurm/cluster.sh installs slurm-wlm and munge if missing and starts
munged, slurmctld and slurmd). Excluded from `make test` by its marker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from conftest import REPO, make_workdir, snakemake, tiny_config

pytestmark = pytest.mark.slurm

CLUSTER = Path(__file__).with_name("cluster.sh")
# The Snakefile's `localrules:` block: these run in the submitting process, not as SLURM jobs.
LOCAL_RULES = set(
    re.findall(r"^    (\w+),$", (REPO / "Snakefile").read_text().split("localrules:")[1].split("\n\n")[0], re.M)
)
GPU_RULES = {"style_stats", "transfer", "vocode"}
# transfer and vocode request a GPU (gpus_per_job: 1); the test node's GPU slots have no device behind them
CONFIG = tiny_config(gpus_per_job=1, device="cpu")
# Wall and CPU times and memory differ between any two runs; everything else must match.
TIMING_COLUMNS = {"seconds", "job_s", "max_rss_mb", "cpu_s", "transfer_s", "vocode_s", "transfer_job_s",
                  "vocode_job_s", "transfer_max_rss_mb", "vocode_max_rss_mb", "evaluate_job_s", "evaluate_max_rss_mb",
                  "evaluate_cpu_s"}  # fmt: skip


@pytest.fixture(scope="module")
def slurm_conf(tmp_path_factory: pytest.TempPathFactory):
    """A running one-node cluster; yields its slurm.conf and stops the daemons afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the SLURM integration test needs root to install and start munged, slurmctld and slurmd")
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([CLUSTER, "start", state], capture_output=True, text=True, timeout=600)
    try:
        assert started.returncode == 0, f"cluster.sh start failed:\n{started.stdout}\n{started.stderr}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(state / "slurm.conf"))
            yield state / "slurm.conf"
    finally:
        subprocess.run([CLUSTER, "stop", state], check=True, timeout=60)


@pytest.fixture(scope="module")
def runs(slurm_conf: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same config run locally and through the SLURM profile, side by side (the SLURM run mostly waits)."""
    local = make_workdir(tmp_path_factory.mktemp("local"), CONFIG)
    cluster = make_workdir(tmp_path_factory.mktemp("cluster"), CONFIG)
    slurm_args = (
        "--profile", str(REPO / "profiles/slurm"),
        # without slurmdbd there is no sacct; finished jobs stay in squeue for MinJobAge (cluster.sh)
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1",
        "--slurm-keep-successful-logs",
    )  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        local_run = pool.submit(snakemake, local)
        process = pool.submit(snakemake, cluster, *slurm_args).result()
        local_run.result()
    return {"local": local, "cluster": cluster, "log": process.stdout + process.stderr, "state": slurm_conf.parent}


def job_stats(log: str) -> dict[str, int]:
    """Jobs per rule, from Snakemake's "Job stats" table."""
    table = log.split("Job stats:", 1)[1].split("total", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE)}


def test_every_job_but_the_local_rules_ran_as_a_completed_slurm_job(runs):
    log = runs["log"]
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", log))
    expected = {rule: count for rule, count in job_stats(log).items() if rule not in LOCAL_RULES}
    assert len(submitted) == sum(expected.values()) > 15

    # SLURM's own records of this run: the controller's job table (rule name in the job comment) ...
    listing = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", run_id, "-O", "JobID:|,State:|,tres-per-job:|,Comment:"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    records = {job: fields for job, *fields in (line.strip().split("|") for line in listing.splitlines())}
    assert set(records) == submitted
    assert {state for state, _, _ in records.values()} == {"COMPLETED"}
    rules = [re.match(r"rule_(.+?)(_wildcards_|$)", comment).group(1) for _, _, comment in records.values()]
    assert {rule: rules.count(rule) for rule in set(rules)} == expected
    # GPU rules asked SLURM for one GPU each (sbatch --gpus=1), the others for none
    for (_, gpus, _), rule in zip(records.values(), rules, strict=True):
        assert gpus == ("gres:gpu:1" if rule in GPU_RULES else "N/A"), rule

    # ... and the job completion log, one line per finished job
    completed = re.findall(r"JobId=(\d+) .*?Name=(\S+) JobState=(\w+)", (runs["state"] / "jobcomp.txt").read_text())
    assert {job for job, name, state in completed if name == run_id and state == "COMPLETED"} == submitted


def artifacts(workdir: Path) -> list[str]:
    results = workdir / "results"
    return sorted(str(p.relative_to(results)) for p in results.rglob("*") if p.is_file() and "logs" not in p.parts)


def without_timings(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in table.columns if c in TIMING_COLUMNS])


def summary_without_timings(path: Path) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING_COLUMNS}
        return value

    return strip(json.loads(path.read_text()))


def test_artifacts_equal_those_of_a_local_run(runs):
    local, cluster = runs["local"] / "results", runs["cluster"] / "results"
    names = artifacts(runs["local"])
    assert names == artifacts(runs["cluster"]) and len(names) > 20
    for name in names:
        a, b = local / name, cluster / name
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(a), np.load(b), err_msg=name)
        elif name.endswith(".wav"):
            (x, rate_a), (y, rate_b) = sf.read(a, dtype="float32"), sf.read(b, dtype="float32")
            assert rate_a == rate_b, name
            np.testing.assert_array_equal(x, y, err_msg=name)
        elif name.endswith(".pt"):
            torch.testing.assert_close(torch.load(a), torch.load(b), rtol=0, atol=0, msg=name)
        elif name.endswith(".png"):
            assert a.read_bytes() == b.read_bytes(), name
        elif name.endswith(".tsv"):
            pd.testing.assert_frame_equal(
                without_timings(pd.read_csv(a, sep="\t")), without_timings(pd.read_csv(b, sep="\t")), obj=name
            )
        elif name.endswith(".json"):
            assert summary_without_timings(a) == summary_without_timings(b), name
        else:
            raise AssertionError(f"no comparison for {name}")
