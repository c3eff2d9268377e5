"""A user's config: one-line schema errors, and a user config whose corpus, backbones and vocoders replace the
demo's (config.yaml) whatever flags are used."""

import re
import subprocess

import pytest
import yaml
from conftest import REPO, make_workdir, snakemake, tiny_config

from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.schema_errors import first_schema_error
from workflow_scripts.pipeline.settings import load_pipeline, replace_named_sets

SCHEMA = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
TOP_LEVEL_KEYS = ", ".join(SCHEMA["properties"])
TRANSFER_KEYS = ", ".join(SCHEMA["properties"]["transfer"]["properties"])


def first_error_line(config: dict) -> str:
    return first_schema_error(config, SCHEMA)


def with_change(**change) -> dict:
    return {**tiny_config(), **change}


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {**tiny_config(), "vocoder": {"hifigan": {}}},
            f"config: vocoder: unknown key (did you mean 'vocoders'?); allowed keys: {TOP_LEVEL_KEYS}",
        ),
        (
            with_change(transfer={"mehtod": "knn"}),
            f"config: transfer.mehtod: unknown key (did you mean 'method'?); allowed keys: {TRANSFER_KEYS}",
        ),
        ({**tiny_config(), "colour": "blue"}, f"config: colour: unknown key; allowed keys: {TOP_LEVEL_KEYS}"),
        (
            with_change(clips=[{"id": "tone", "vad": "energy"}]),
            "config: clips[0] (clip 'tone'): needs path or synth; neither is given",
        ),
        (
            with_change(clips=[{"id": "tone", "path": "a.wav", "synth": "bowed_tone"}]),
            "config: clips[0] (clip 'tone'): give only one of path or synth, not path and synth",
        ),
        (
            with_change(clips=[{"id": "tone", "path": "a.wav", "rol": "style"}]),
            "config: clips[0].rol (clip 'tone'): unknown key (did you mean 'role'?); "
            "allowed keys: id, path, synth, vad, role, kind",
        ),
        (with_change(pairs="crosss"), "config: pairs: 'crosss' is not allowed (did you mean 'cross'?); allowed: cross"),
        (with_change(pairs=[{"content": "tone"}]), "config: pairs[0]: missing key 'style'"),
        (with_change(threads="2"), "config: threads: expected an integer, got '2'"),
        (with_change(transfer={"k": 1.5}), "config: transfer.k: expected an integer, got 1.5"),
        ({"vocoders": {"hifigan": {}}}, "config: missing key 'backbones'"),
    ],
)
def test_a_schema_error_is_one_line_naming_the_key_and_what_is_allowed(config, line):
    assert first_error_line(config) == line


def test_an_unknown_transfer_method_is_one_line_naming_the_registered_ones():
    """Methods are checked against the registry (TRANSFER_METHODS), not a list in the schema, in the schema's form."""
    assert first_error_line(with_change(transfer={"method": "KNN"})) is None
    line = "config: transfer.method: 'KNN' is not allowed (did you mean 'knn'?); allowed: knn, gatys"
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    with pytest.raises(ConfigError) as error:
        load_pipeline({**demo, "transfer": {"method": "KNN"}})
    assert str(error.value) == line


def test_the_batch_pairs_description_is_one_string():
    batch_pairs = SCHEMA["properties"]["transfer"]["properties"]["batch_pairs"]
    assert set(batch_pairs) == {"anyOf", "description"}
    assert batch_pairs["description"].startswith("0 = one job per pair; n = one job per style, n problems at once;")
    assert batch_pairs["description"].endswith("else 0 (docs/gpu.md).")


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"vocoder": {"hifigan": {}}}, "config: vocoder: unknown key (did you mean 'vocoders'?); allowed keys: "),
        ({"transfer": {"batch_pairs": "lots"}}, "config: transfer.batch_pairs: 'lots' is not allowed; 0 = one job per"),
        ({"transfer": {"window_frames": 64}}, "config: transfer.window_frames: 64 is not allowed; "),
        (
            {"transfer": {"mehtod": "knn"}},
            "config: transfer.mehtod: unknown key (did you mean 'method'?); allowed keys: method, k, ",
        ),
        (
            {"clips": [{"id": "tone", "vad": "energy"}]},
            "config: clips[0] (clip 'tone'): needs path or synth; neither is given",
        ),
    ],
)
def test_snakemake_shows_the_one_line_and_no_schema(tmp_path, change, line):
    workdir = make_workdir(tmp_path, with_change(**change))
    process = snakemake(workdir, "-n", check=False)
    assert process.returncode != 0
    lines = (process.stdout + process.stderr).strip().splitlines()  # a dry run reports on stdout
    assert any(text.startswith(line) for text in lines), lines
    assert len(lines) <= 4, lines  # where it was raised, the line, the file: no schema dump
    assert not (workdir / "results").exists()


def planned_jobs(stdout: str) -> dict[str, int]:
    """Snakemake's dry-run job table: rule -> count."""
    table = stdout.split("Job stats:")[1].split("total")[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_a_user_config_with_its_own_corpus_replaces_the_demos(tmp_path):
    """Run from the repository (the demo's config.yaml is the workflow's configfile), as a new user would."""
    user = make_workdir(tmp_path, tiny_config(vocoders={"hifigan": {}}))
    config = yaml.safe_load((user / "config.yaml").read_text())
    for clip in config["clips"]:
        clip["path"] = str(user / clip["path"])
    (user / "config.yaml").write_text(yaml.safe_dump(config))
    process = snakemake(REPO, "-n", "--configfile", str(user / "config.yaml"))
    jobs = planned_jobs(process.stdout)
    # the tiny corpus alone (3 clips, 2 pairs), hifigan alone: no demo synth clip, no griffinlim
    assert "synthesize" not in jobs and jobs["trim"] == 3 and jobs["vocode"] == 2
    assert "griffinlim" not in process.stdout and "bowed" not in process.stdout


def test_replace_named_sets_keeps_option_sections_merged():
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    merged = {**demo, "corpus_dir": "mine", "transfer": {**demo["transfer"], "k": 2}}
    replace_named_sets(merged, {"corpus_dir": "mine", "transfer": {"k": 2}})
    assert "clips" not in merged and "pairs" not in merged and merged["corpus_dir"] == "mine"
    assert merged["vocoders"] == demo["vocoders"] and merged["transfer"]["method"] == "knn"

    overrides = {"vocoders": {"hifigan": {}}, "device": "cpu"}
    merged = {**demo, "vocoders": {**demo["vocoders"], "hifigan": {}}, "device": "cpu"}
    replace_named_sets(merged, overrides)
    assert merged["vocoders"] == {"hifigan": {}} and merged["clips"] == demo["clips"]


@pytest.mark.parametrize("target", ["demo", "report"])
def test_make_passes_config_to_snakemake(target):
    process = subprocess.run(["make", "-n", target, "CONFIG=my.yaml"], cwd=REPO, capture_output=True, text=True)
    run = next(line for line in process.stdout.splitlines() if "snakemake --cores" in line)
    assert run.endswith(" --configfile my.yaml")  # last: it would take a target after it for a config file
    plain = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True).stdout
    assert "--configfile" not in plain


def test_the_schema_accepts_knns_match_path_and_voice_envelope():
    # a negative weight passes the schema (types only) and is rejected by its declared range
    # (tests/test_settings.py::test_every_ranged_option_rejects_a_value_outside_its_range_in_one_line)
    assert first_error_line(tiny_config(transfer={"transition": 1.0, "voice_db": 6})) is None
    assert first_error_line(tiny_config(transfer={"transition": "on"})) == (
        "config: transfer.transition: expected a number, got 'on'"
    )
