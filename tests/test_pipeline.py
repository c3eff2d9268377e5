"""End-to-end: the real workflow on a tiny corpus in a temporary working directory."""

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import make_workdir, output_mtimes, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

HOP_SECONDS = 256 / 22050
# Rewritten whenever anything reruns: corpus aggregates, and failures.tsv (the latest run's failures).
CORPUS_SUMMARIES = {"metrics.tsv", "plots/summary.png", "failures.tsv"}


def test_outputs_metrics_and_durations(built_workdir):
    results = built_workdir / "results"
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert list(zip(metrics["content"], metrics["style"], strict=True)) == [("tone", "chirp"), ("tone", "noise")]
    assert set(metrics.backbone) == {"random_cnn"} and set(metrics.vocoder) == {"griffinlim"}
    assert (metrics.duration_error_s.abs() < HOP_SECONDS).all()
    assert metrics.content_duration_s.iloc[0] == pytest.approx(1.0 + 0.1, abs=0.05)  # 1 s tone + padding
    assert metrics.steps.max() <= 4 and (metrics.transfer_s > 0).all()
    assert metrics.duration_ratio.between(1 - 0.02, 1.0).all()
    assert (metrics[["nonfinite_samples", "nonfinite_mel", "clipped_samples"]] == 0).all().all()
    correlations = ["envelope_corr", "flux_corr", "content_preservation", "loudness_corr", "chroma_corr"]
    assert metrics[correlations].abs().le(1.0).all().all()  # chroma applies: the tone is music (energy-trimmed)
    assert (metrics.frame_change_ratio > 0).all()
    assert metrics.style_match.le(1.0).all() and metrics.peak_dbfs.between(-60, 0).all()
    # the jobs' own wall time (from process start) and peak memory, from their summaries; the job includes the
    # optimisation
    assert (metrics.transfer_job_s >= metrics.transfer_s).all() and (metrics.vocode_job_s > 0).all()
    assert (metrics.transfer_max_rss_mb > 50).all() and (metrics.vocode_max_rss_mb > 50).all()
    assert (metrics.evaluate_cpu_s > 0).all() and (metrics.evaluate_job_s > 0).all()
    assert (results / "plots/griffinlim/random_cnn/tone/chirp.png").stat().st_size > 10_000
    assert (results / "plots/summary.png").is_file()

    info = sf.info(results / "audio/griffinlim/random_cnn/tone/chirp.wav")
    assert info.samplerate == 22050 and info.subtype == "PCM_16" and info.channels == 1  # output_format: pcm16
    stylised = np.load(results / "stylised/hifigan/random_cnn/tone/chirp.npy")
    content = np.load(results / "mel/hifigan/tone.npy")
    assert stylised.dtype == np.float32 and stylised.shape == content.shape
    history = pd.read_csv(results / "stylised/hifigan/random_cnn/tone/chirp.history.tsv", sep="\t")
    assert list(history.columns) == ["step", "total", "content", "style", "seconds"]
    # the 44.1 kHz stereo chirp was mixed down and resampled for the 22.05 kHz convention
    chirp = sf.info(results / "resampled/22050hz/chirp.wav")
    assert chirp.channels == 1 and chirp.samplerate == 22050
    assert (results / "logs/transfer/hifigan/random_cnn/tone/chirp.log").read_text().strip()


def test_second_run_has_nothing_to_do(built_workdir):
    assert "Nothing to be done" in snakemake(built_workdir, "--dry-run").stdout


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {path for path, mtime in after.items() if before.get(path) != mtime}


def test_growing_the_config_rebuilds_only_what_depends_on_the_change(built_workdir, tmp_path):
    workdir = tmp_path / "grow"
    shutil.copytree(built_workdir, workdir, symlinks=True)
    config = tiny_config()

    # 1. a new style clip (a built-in synth): only its own chain and the new pair
    config["clips"].append({"id": "bowed", "synth": "bowed_tone", "vad": "energy", "role": "style"})
    before = output_mtimes(workdir)
    write_config(workdir, config)
    snakemake(workdir)
    pair = "random_cnn/tone/bowed"
    assert changed(before, output_mtimes(workdir)) == {
        "synth/bowed.wav", "trimmed/bowed.wav", "resampled/22050hz/bowed.wav", "mel/hifigan/bowed.npy",
        "pitch/hifigan/bowed.npy", "style_stats/hifigan/random_cnn/bowed.pt",
        f"stylised/hifigan/{pair}.npy", f"stylised/hifigan/{pair}.history.tsv", f"stylised/hifigan/{pair}.json",
        f"audio/griffinlim/{pair}.wav", f"audio/griffinlim/{pair}.json", f"metrics/griffinlim/{pair}.tsv",
        f"plots/griffinlim/{pair}.png", *CORPUS_SUMMARIES,
    }  # fmt: skip

    # 2. a second backbone: only its transfers and their renderings
    config["backbones"]["narrow"] = {"type": "random_cnn", "filters": 32, "width": 3}
    before = output_mtimes(workdir)
    write_config(workdir, config)
    snakemake(workdir)
    new = changed(before, output_mtimes(workdir))
    assert new - CORPUS_SUMMARIES and all("/narrow/" in path for path in new - CORPUS_SUMMARIES)
    assert len([p for p in new if p.startswith("stylised/")]) == 3 * 3  # 3 pairs x (mel, history, summary)
    assert len([p for p in new if p.startswith("style_stats/")]) == 3  # one per style clip

    # 3. changing that backbone's parameters rebuilds only that backbone's outputs
    config["backbones"]["narrow"]["width"] = 5
    before = output_mtimes(workdir)
    write_config(workdir, config)
    snakemake(workdir)
    assert changed(before, output_mtimes(workdir)) == new

    # 4. a vocoder in another convention: new mels, reusing the 22.05 kHz resampled audio
    config["vocoders"]["gl_wavenet"] = {"type": "griffinlim", "convention": "wavenet", "iterations": 4}
    before = output_mtimes(workdir)
    write_config(workdir, config)
    snakemake(workdir)
    new = changed(before, output_mtimes(workdir))
    stages = {"mel", "pitch", "style_stats", "stylised", "audio", "metrics", "plots"}
    assert {p.split("/")[0] for p in new - CORPUS_SUMMARIES} == stages
    wavenet = ("mel/wavenet/", "pitch/wavenet/", "style_stats/wavenet/", "stylised/wavenet/")
    assert all(p.startswith(wavenet) for p in new if p.startswith(("mel", "pitch", "styl")))
    rendered = ("audio", "metrics/", "plots")
    per_vocoder = [p for p in new - CORPUS_SUMMARIES if p.startswith(rendered)]
    assert per_vocoder and all("/gl_wavenet/" in p for p in per_vocoder)
    assert len(pd.read_csv(workdir / "results/metrics.tsv", sep="\t")) == 3 * 2 * 2

    # 5. a neural vocoder in a convention already in use: only its renderings; stylised mels are reused
    config["vocoders"]["hifigan"] = {}
    before = output_mtimes(workdir)
    write_config(workdir, config)
    snakemake(workdir)
    new = changed(before, output_mtimes(workdir)) - CORPUS_SUMMARIES
    assert {p.split("/")[0] for p in new} == {"audio", "metrics", "plots"}
    assert all("/hifigan/" in p for p in new) and len([p for p in new if p.endswith(".wav")]) == 3 * 2
    metrics = pd.read_csv(workdir / "results/metrics.tsv", sep="\t")
    hifigan = metrics[metrics["vocoder"] == "hifigan"]
    assert len(hifigan) == 3 * 2 and (hifigan["duration_error_s"].abs() < HOP_SECONDS).all()
    assert sf.info(workdir / "results/audio/hifigan/random_cnn/tone/bowed.wav").samplerate == 22050


def test_invalid_config_stops_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path, {**tiny_config(), "colour": "blue"})
    process = snakemake(workdir, check=False)
    assert process.returncode != 0
    assert "config: colour: unknown key; allowed keys: clips, " in process.stderr
    assert not (workdir / "results").exists()

    write_config(workdir, tiny_config(backbones={"resnet": {}}))
    process = snakemake(workdir, check=False)
    assert process.returncode != 0
    assert "config: backbones.resnet: unknown type 'resnet' (did you mean 'resnet50'?); known: random_cnn" in (
        process.stderr
    )
    assert not (workdir / "results").exists()


def test_a_bad_clip_fails_alone_with_one_line(tmp_path):
    config = tiny_config()
    config["clips"].append({"id": "broken", "path": "audio/broken.wav", "role": "style"})
    workdir = make_workdir(tmp_path, config)
    (workdir / "audio/broken.wav").write_bytes(b"RIFF but not really a wav")
    process = snakemake(workdir, "--keep-going", check=False)
    assert process.returncode != 0
    line = next(line for line in process.stderr.splitlines() if "broken.wav:" in line)
    assert "audio/broken.wav: not a readable audio file" in line and "convert it to WAV, FLAC or OGG" in line
    results = workdir / "results"
    for style in ("chirp", "noise"):  # the unaffected pairs completed
        assert (results / f"metrics/griffinlim/random_cnn/tone/{style}.tsv").is_file()
    assert not (results / "trimmed/broken.wav").exists()
