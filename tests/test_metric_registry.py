"""The metric registry: every family measures exactly the columns it declares, only for the clip kinds it applies to;
the report's tables and docs/metrics.md follow from it; it imports no torch; and a family added from outside the
checkout (a toy metric) runs end to end through a real Snakemake run into metrics.tsv and the report."""

import dataclasses
import math
import re
from functools import cache
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, harmonic, make_workdir, noise_bursts, snakemake, tiny_config

from tests.test_options import heavy_modules_after
from workflow_scripts.audio.conventions import EVALUATION, HIFIGAN
from workflow_scripts.audio.pitch import f0_track
from workflow_scripts.metrics.analysis import OutputAnalysis
from workflow_scripts.metrics.families import EXTRA_FAMILIES_VARIABLE
from workflow_scripts.metrics.metrics import evaluation_db
from workflow_scripts.metrics.metrics_table import KEY_COLUMNS
from workflow_scripts.metrics.registry import KINDS, Column, Metric, columns, markdown_index, measure_row, registered
from workflow_scripts.report.report import report_columns

SR = HIFIGAN.sample_rate
KEYS = {"content": "a", "style": "b", "backbone": "random_cnn", "vocoder": "griffinlim"}
FAMILIES = registered()


@cache
def clips() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Content (a voice-like harmonic with vibrato), style (noise bursts), the content's F0 as rule pitch makes it."""
    content = harmonic(1.5, SR, f0=140.0, vibrato=0.02)
    f0 = f0_track(content, SR, EVALUATION.frame_times(EVALUATION.features(content).shape[1]))[0]
    return content, noise_bursts(1.5, SR), f0


def analysis_of_a_copy(kinds: dict[str, str]) -> OutputAnalysis:
    """An output that is its content exactly, in the style of noise bursts."""
    content, style, f0 = clips()
    summary = {"convention": HIFIGAN.name, "method": "knn", "final": {"content": 0.1, "style": 0.2, "step": 0},
               "seconds": 1.0, "job_s": 2.0, "max_rss_mb": 3.0}  # fmt: skip
    return OutputAnalysis(
        output=(content.copy(), SR), content=(content, SR), style=(style, SR), stylised=HIFIGAN.features(content),
        content_f0=f0, kinds=kinds, transfer_summary=summary,
        vocode_summary={"seconds": 1.0, "job_s": 2.0, "max_rss_mb": 3.0, "peak_before": 0.5},
    )  # fmt: skip


def test_the_registry_and_the_report_import_no_torch(tmp_path):
    code = (
        "from workflow_scripts.metrics.registry import registered\n"
        "from workflow_scripts.report.report import report_columns\n"
        "assert len(registered()) >= 11 and report_columns()\n"
    )
    assert heavy_modules_after(code, tmp_path) == []


def test_column_names_are_unique_and_never_keys():
    names = [column.name for column in columns()]
    assert len(names) == len(set(names)) and not set(names) & set(KEY_COLUMNS)


@pytest.mark.parametrize("metric", FAMILIES, ids=lambda metric: metric.name)
@pytest.mark.parametrize(("content", "style"), list(product(KINDS, KINDS)))
def test_each_family_fills_its_declared_columns_where_it_applies_and_leaves_them_empty_elsewhere(
    metric, content, style
):
    kinds = {"content": content, "style": style}
    row = measure_row(KEYS, analysis_of_a_copy(kinds), (metric,))
    assert list(row) == [*KEY_COLUMNS, *(column.name for column in metric.columns)]
    values = [row[column.name] for column in metric.columns]
    if metric.applies(kinds):
        assert any(isinstance(value, str) or not math.isnan(value) for value in values)
    else:
        assert all(math.isnan(value) for value in values)


def test_a_copy_of_the_content_scores_as_a_copy():
    """Known answers over the whole registry, for an output identical to its content."""
    speech = measure_row(KEYS, analysis_of_a_copy({"content": "speech", "style": "speech"}))
    music = measure_row(KEYS, analysis_of_a_copy({"content": "music", "style": "music"}))
    for name in ("content_preservation", "loudness_corr", "f0_corr", "voicing_agreement", "speaker_sim_content"):
        assert speech[name] == pytest.approx(1.0, abs=1e-4), name
    assert speech["style_match"] == pytest.approx(0.0, abs=1e-6) and speech["dnsmos_ovrl_change"] == 0.0
    assert music["chroma_corr"] == pytest.approx(1.0, abs=1e-6) and math.isnan(music["speaker_moved"])
    assert speech["method"] == "knn" and speech["duration_ratio"] == 1.0 and speech["nonfinite_samples"] == 0


def test_the_evaluation_space_analyses_are_those_of_the_clips_and_the_output():
    """In the evaluation convention the spaces reuse the vocoder-convention analyses: equal to analysing afresh."""
    copy = analysis_of_a_copy({"content": "speech", "style": "music"})
    analysis = dataclasses.replace(copy, output=(clips()[1][: SR // 2].copy(), SR))  # rendered != stylised mel
    assert analysis.convention.name == EVALUATION.name
    for name, (audio, rate) in analysis.clips.items():
        np.testing.assert_array_equal(analysis.spaces[name], evaluation_db(audio, rate), err_msg=name)


def test_a_family_returning_undeclared_columns_is_refused():
    rogue = Metric("rogue", "declares one column, returns another", (Column("rogue_a", "0..1"),),
                   lambda analysis: {"rogue_b": 1.0})  # fmt: skip
    with pytest.raises(ValueError, match=r"rogue.*declares"):
        measure_row(KEYS, analysis_of_a_copy({"content": "speech", "style": "speech"}), (rogue,))


def test_report_tables_follow_the_registry():
    shown = report_columns()
    assert shown == [column for column in columns() if column.report]
    assert {column.report for column in shown} == {"key", "checks"}
    assert all(column.report == "key" for column in shown if column.headline)


def test_docs_column_index_is_the_registrys():
    text = (REPO / "docs/metrics.md").read_text(encoding="utf-8")
    assert markdown_index() in text, "regenerate it: .venv/bin/python -m workflow_scripts.metrics.registry"


def test_every_column_is_described_in_docs_and_every_described_column_exists():
    """docs/metrics.md's tables of descriptions (those before the generated index) name exactly the registry's
    columns, keys and the table's own bookkeeping columns."""
    text = (REPO / "docs/metrics.md").read_text(encoding="utf-8").split("## Column index")[0]
    described = {name for line in text.splitlines() if line.startswith("| `")
                 for name in re.findall(r"`(\w+)`", line.split("|")[1])}  # fmt: skip
    assert described == {column.name for column in columns()} | {"failure", "config_hash", "commit"}


def test_readme_names_every_family():
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())  # its lines wrapped anywhere
    assert [metric.summary for metric in FAMILIES if metric.summary not in readme] == []


TOY_FAMILY = """
import numpy as np

from workflow_scripts.metrics.registry import Column, Metric


def measure(analysis):
    return {"toy_peak_ratio": float(np.max(np.abs(analysis.audio)) / np.max(np.abs(analysis.content[0])))}


METRIC = Metric("toy", "output peak over content peak", (Column("toy_peak_ratio", "0..inf", "near 1", "toy peak",
                "key"),), measure)
"""


@pytest.mark.slow
def test_a_toy_family_added_outside_the_checkout_runs_end_to_end(tmp_path, monkeypatch):
    """One file in a folder named by STYLE_TRANSFER_METRIC_FAMILIES: its column is in metrics.tsv, after the built-in
    families and before the costs, and in the report's first table."""
    (tmp_path / "families").mkdir()
    (tmp_path / "families/toy.py").write_text(TOY_FAMILY)
    monkeypatch.setenv(EXTRA_FAMILIES_VARIABLE, str(tmp_path / "families"))
    workdir = make_workdir(tmp_path / "work", tiny_config(clips=tiny_config()["clips"][:2]))
    snakemake(workdir, "results/report.html")
    header, *rows = (workdir / "results/metrics.tsv").read_text().splitlines()
    names = header.split("\t")
    assert names.index("toy_peak_ratio") == names.index("transfer_s") - 1
    assert len(rows) == 1 and 0.0 < float(rows[0].split("\t")[names.index("toy_peak_ratio")]) < 10.0
    page = (workdir / "results/report.html").read_text(encoding="utf-8")
    metrics_table = re.search(r'<table id="metrics-table">(.*?)</table>', page, re.S).group(1)
    assert '<th title="toy_peak_ratio">toy peak →1<small>0..inf</small></th>' in metrics_table
    assert not Path(REPO / "workflow_scripts/metrics/families/toy.py").exists()
