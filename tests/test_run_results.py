"""What a run tells its user without a pipeline run: failures mapped to outputs, the metrics table with failed
outputs and provenance, labelled log lines and progress bars, the end-of-run message."""

import io

import pandas as pd

from workflow_scripts.metrics.metrics_table import aggregate, built, read_table
from workflow_scripts.pipeline import runtime
from workflow_scripts.pipeline.provenance import config_hash, git_commit
from workflow_scripts.pipeline.runtime import ProgressLines, end_of_run_message, failure_of, job_label

OUTPUT = {"content": "tone", "style": "chirp", "backbone": "random_cnn", "vocoder": "griffinlim"}


def record(rule, message, **wildcards):
    return {"rule": rule, "job": "", "message": message, "wildcards": wildcards}


def test_a_failure_is_upstream_of_the_outputs_that_share_its_clip_or_keys():
    records = [
        record("trim", "tone.wav: unreadable", clip="tone"),
        record("trim", "other.wav: unreadable", clip="other"),
        record("transfer", "bug", convention="hifigan", backbone="random_cnn", content="tone", style="noise"),
        record("style_stats", "oops", convention="hifigan", backbone="vgg19", style="chirp"),
        record("report", "corpus-wide"),
    ]
    assert failure_of(OUTPUT, records) == "trim: tone.wav: unreadable"
    assert failure_of({**OUTPUT, "content": "x", "style": "other"}, records) == "trim: other.wav: unreadable"
    assert failure_of({**OUTPUT, "style": "noise"}, records) == "trim: tone.wav: unreadable; transfer: bug"
    assert failure_of({**OUTPUT, "content": "x", "backbone": "vgg19"}, records) == "style_stats: oops"
    assert failure_of({**OUTPUT, "content": "x"}, records) == ""


def test_the_table_lists_failed_outputs_and_its_provenance(tmp_path):
    row = tmp_path / "row.tsv"
    pd.DataFrame([{**OUTPUT, "style_match": 0.5}]).to_csv(row, sep="\t", index=False)
    failed = {("a", "chirp", "random_cnn", "griffinlim"): "trim: a.wav: unreadable"}
    table = aggregate([row], config_hash="0123456789ab", commit="abc", failures=failed)
    path = tmp_path / "metrics.tsv"
    table.to_csv(path, sep="\t", index=False)
    table = read_table(path)
    assert list(table["content"]) == ["a", "tone"] and list(table["failure"]) == ["trim: a.wav: unreadable", ""]
    assert table["style_match"].isna().tolist() == [True, False]
    assert set(table["config_hash"]) == {"0123456789ab"} and set(table["commit"]) == {"abc"}
    assert list(built(table)["content"]) == ["tone"]


def test_config_hash_ignores_key_order_and_sees_every_value():
    assert config_hash({"a": 1, "b": {"c": [1, 2]}}) == config_hash({"b": {"c": [1, 2]}, "a": 1})
    assert config_hash({"a": 1, "b": {"c": [1, 2]}}) != config_hash({"a": 1, "b": {"c": [2, 1]}})
    assert len(config_hash({})) == 12
    assert git_commit("/") == "unknown"  # not a checkout


def test_log_lines_name_the_job_and_progress_bars_become_occasional_lines(monkeypatch):
    assert job_label("pitch", {"convention": "hifigan", "clip": "content1"}) == "pitch hifigan/content1"
    assert job_label("report", {}) == "report"
    monkeypatch.setattr(runtime, "PROGRESS_INTERVAL_S", 3600.0)
    terminal = io.StringIO()
    stream = ProgressLines(terminal, "transfer hifigan/random_cnn/a/b")
    stream.write("\rtransfer:   0%|  | 0/9")
    stream.write("\rtransfer:  50%|# | 4/9")  # within the interval: not shown
    stream.write("\r          \r")  # tqdm clearing its bar
    stream.write("a log line\n")
    assert terminal.getvalue() == "[transfer hifigan/random_cnn/a/b] transfer:   0%|  | 0/9\na log line\n"


def test_the_end_of_run_message_says_where_everything_is(tmp_path):
    outputs = [tmp_path / f"audio/{name}.wav" for name in "abc"]
    for path in outputs[:2]:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / "metrics.tsv").write_text("")
    results = {"metrics": str(tmp_path / "metrics.tsv"), "report": str(tmp_path / "report.html")}
    message = end_of_run_message(
        outputs=[str(p) for p in outputs],
        corpus_results=results,
        failures_table="results/failures.tsv",
        failed_jobs=1,
        provisional=[results["metrics"]],
    )
    assert message.splitlines()[:3] == ["2 of 3 outputs are in place:", f"  {outputs[0]}", f"  {outputs[1]}"]
    assert f"metrics: {results['metrics']} (provisional)" in message
    report = results["report"]
    assert f"report: {report} (not built by this run's targets: ask for {report} (make report; " in message
    assert "1 job(s) failed; see results/failures.tsv" in message
