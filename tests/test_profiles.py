"""The execution profiles render as documented and Snakemake accepts them."""

import pytest
from conftest import REPO, make_workdir, snakemake, tiny_config
from snakemake.profiles import ProfileConfigFileParser


def render(profile: str) -> dict:
    with open(REPO / "profiles" / profile / "config.yaml") as stream:
        return dict(ProfileConfigFileParser().parse(stream))


@pytest.mark.parametrize(("visible", "resources"), [("", None), ("0", ["gpu=1"]), ("0,1", ["gpu=1"])])
def test_local_profile_limits_gpu_jobs_only_where_there_is_a_gpu(monkeypatch, visible, resources):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    profile = render("local")
    assert profile.get("resources") == resources
    assert profile["cores"] == "all" and profile["keep-going"] == "True" and profile["rerun-incomplete"] == "True"
    assert profile["printshellcmds"] == "False"


def test_slurm_profile_sizes_every_job_and_leaves_account_and_partition_to_the_cluster():
    profile = render("slurm")
    assert profile["executor"] == "slurm"
    assert profile["default-resources"] == ["runtime=15", "mem_mb=2000"]
    assert set(profile["set-resources"]) == {
        "style_stats:runtime=30", "style_stats:mem_mb=8000", "transfer:runtime=120", "transfer:mem_mb=8000",
        "vocode:runtime=30", "vocode:mem_mb=4000",
    }  # fmt: skip


def test_slurm_profile_with_site_settings(tmp_path):
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    text = text.replace('account = ""', 'account = "all"').replace('partition = ""', 'partition = "cpu"', 1)
    text = text.replace("gpu_partition = partition", 'gpu_partition = "gpu"')
    (tmp_path / "config.yaml").write_text(text)
    with open(tmp_path / "config.yaml") as stream:
        profile = dict(ProfileConfigFileParser().parse(stream))
    # quoted, so that a name such as `all` stays a string when Snakemake evaluates resource values
    assert {"slurm_account='all'", "slurm_partition='cpu'"} <= set(profile["default-resources"])
    gpu_rules = ("style_stats", "transfer", "vocode")
    assert {f"{rule}:slurm_partition='gpu'" for rule in gpu_rules} <= set(profile["set-resources"])


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_snakemake_accepts_the_profile(tmp_path, profile):
    workdir = make_workdir(tmp_path, tiny_config())
    process = snakemake(workdir, "--profile", str(REPO / "profiles" / profile), "--dry-run")
    assert "transfer" in process.stdout and "This was a dry-run" in process.stdout
