"""Batching across pairs: several contents in the style of one transferred together, each with its own optimiser,
with the results one job per pair gives; in the pipeline, one job per style whose pairs keep per-pair rebuilds."""

import dataclasses
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from conftest import (
    chirp,
    gatys_pair,
    harmonic,
    knn_pair,
    make_workdir,
    output_mtimes,
    silence,
    snakemake,
    tiny_config,
    write_config,
    write_wav,
)

from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.pipeline import settings
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.pipeline.settings import load_pipeline
from workflow_scripts.transfer import knn
from workflow_scripts.transfer.backbones import RandomCNN
from workflow_scripts.transfer.batching import optimise_together
from workflow_scripts.transfer.interface import Content, Setup, StyleClip
from workflow_scripts.transfer.methods import METHODS
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.transfer.style_statistics import style_targets
from workflow_scripts.transfer.windows import time_windows

SR = HIFIGAN.sample_rate


@pytest.fixture(scope="module")
def contents_and_style():
    """Three contents of different lengths (notes and rests) and a chirp style."""
    contents = [HIFIGAN.unit_mel(np.concatenate([harmonic(seconds, SR, f0=f0), silence(0.1, SR)]))
                for seconds, f0 in ((0.5, 180.0), (0.7, 240.0), (0.4, 300.0))]  # fmt: skip
    return contents, HIFIGAN.unit_mel(chirp(0.7, SR))


def transfer_batch(method, contents, style: StyleClip, backbone, options, device, f0s=None):
    """Several contents in the style of one, as one job of the method does."""
    batch = [Content(content, f0) for content, f0 in zip(contents, f0s or [None] * len(contents), strict=True)]
    return METHODS[method](batch, style, Setup.of(backbone, HIFIGAN, options, device, progress=False))


def small_cnn(device) -> RandomCNN:
    return RandomCNN(RandomCNN.Options(filters=256, width=5, style_weight=30.0), HIFIGAN.n_mels).to(device)


def test_random_cnn_pads_shorter_mels_without_changing_their_maps(device):
    backbone = small_cnn(device)
    lengths = [50, 70, 40]
    mels = [torch.rand(HIFIGAN.n_mels, frames, device=device) for frames in lengths]
    assert backbone.batch_groups(lengths) == [([0, 1, 2], 70)]  # one batch, padded to the longest
    features = FeatureExtractor(backbone)
    for mel, maps in zip(mels, features.many(mels), strict=True):
        # measured: 3e-7 (the batched convolution sums in another order)
        torch.testing.assert_close(maps["relu"], features(mel)["relu"], rtol=0, atol=1e-5)


def test_rounds_wait_for_every_running_problem():
    """Problem i asks for i + 1 evaluations: rounds hold 3, 2, then 1 request, whatever the threads' timing."""
    rounds = []

    def evaluate_many(requests):
        rounds.append(sorted(requests))
        return {index: (point * 2, None) for index, (point, _) in requests.items()}

    def problem(count):
        return lambda evaluate: [float(evaluate(torch.tensor(float(step)), False)[0]) for step in range(count)]

    results = optimise_together(evaluate_many, [problem(1), problem(2), problem(3)])
    assert rounds == [[0, 1, 2], [1, 2], [2]]
    assert results == [[0.0], [0.0, 2.0], [0.0, 2.0, 4.0]]


def test_an_error_in_one_problem_is_raised_after_the_others_finish():
    def evaluate_many(requests):
        return {index: (point, None) for index, (point, _) in requests.items()}

    def failing(evaluate):
        evaluate(torch.zeros(1), False)
        raise FloatingPointError("loss became nan at step 1")

    finished = []
    with pytest.raises(FloatingPointError, match="loss became nan"):
        optimise_together(evaluate_many, [failing, lambda evaluate: finished.append(evaluate(torch.ones(1), False))])
    assert len(finished) == 1


def test_batched_gatys_gives_each_pair_its_own_result(contents_and_style, device):
    """Per-pair L-BFGS state: the steps agree to rounding (measured: at most 1e-6 over the first 8 steps; later,
    L-BFGS's sensitivity to rounding lets trajectories drift, 1e-5 to 5e-3 by step 20), where a shared optimiser
    would differ from the second step on. Early stopping is per pair: measured, the three stop after 9, 9 and 6
    steps, batched or not."""
    contents, style = contents_and_style
    backbone = small_cnn(device)
    targets = style_targets(backbone, torch.from_numpy(style).to(device))
    options = TransferOptions(method="gatys", iterations=20, tolerance=0.1, patience=2, batch_pairs=2)
    alone = [gatys_pair(content, targets, backbone, options, device, progress=False) for content in contents]
    together = transfer_batch("gatys", contents, StyleClip(targets), backbone, options, device)
    lengths = [len(result.history) for result in alone]
    assert [len(result.history) for result in together] == lengths and len(set(lengths)) > 1
    for result, reference in zip(together, alone, strict=True):
        totals = [row["total"] for row in result.history]
        assert totals == pytest.approx([row["total"] for row in reference.history], rel=1e-4)
    assert len({result.seconds for result in together}) == 1  # the batch's time, shared
    again = transfer_batch("gatys", contents, StyleClip(targets), backbone, options, device)
    for first, second in zip(together, again, strict=True):  # rounds do not depend on thread timing
        np.testing.assert_array_equal(first.unit_mel, second.unit_mel)


def test_batched_gatys_optimises_the_windows_of_long_clips_as_problems(contents_and_style, device):
    contents, style = contents_and_style
    long_content = np.tile(contents[1], (1, 3))
    window = 128  # three windows of the 204 frames
    backbone = small_cnn(device)
    targets = style_targets(backbone, torch.from_numpy(style).to(device))
    options = TransferOptions(method="gatys", iterations=8, tolerance=0, window_frames=window, batch_pairs=8)
    assert len(time_windows(long_content.shape[1], window, 64)) == 3 and contents[0].shape[1] <= window
    one_at_a_time = dataclasses.replace(options, batch_pairs=0)  # a job per pair: one window after the other
    alone = [gatys_pair(c, targets, backbone, one_at_a_time, device) for c in (long_content, contents[0])]
    together = transfer_batch("gatys", [long_content, contents[0]], StyleClip(targets), backbone, options, device)
    assert [len(r.history) for r in together] == [3 * 8, 8]
    for result, reference in zip(together, alone, strict=True):
        assert result.unit_mel.shape == reference.unit_mel.shape
        assert result.final["total"] == pytest.approx(reference.final["total"], rel=0.02)
        assert [row["total"] for row in result.history[:3]] == pytest.approx(
            [row["total"] for row in reference.history[:3]], rel=1e-4
        )


@pytest.mark.parametrize("refine_steps", [0, 3])
def test_batched_knn_computes_the_dictionary_once_and_matches_each_content_as_alone(
    contents_and_style, device, monkeypatch, refine_steps
):
    contents, style = contents_and_style
    f0s = [np.full(c.shape[1], f0, np.float32) for c, f0 in zip(contents, (180.0, 240.0, 300.0), strict=True)]
    style_f0 = np.full(style.shape[1], 260.0, np.float32)
    backbone = small_cnn(device)
    targets = style_targets(backbone, torch.from_numpy(style).to(device))
    options = TransferOptions(refine_steps=refine_steps, batch_pairs=4)
    alone = [knn_pair(content, style, f0, style_f0, targets, backbone, HIFIGAN, options, device, False)
             for content, f0 in zip(contents, f0s, strict=True)]  # fmt: skip
    built, original = [], knn.style_dictionary
    monkeypatch.setattr(knn, "style_dictionary", lambda *args: built.append(1) or original(*args))
    together = transfer_batch("knn", contents, StyleClip(targets, style, style_f0), backbone, options, device, f0s)
    assert len(built) == 1
    for result, reference in zip(together, alone, strict=True):
        # matching is the same computation; a batched refinement rounds its products differently
        tolerance = 1e-6 if refine_steps == 0 else 1e-3
        np.testing.assert_allclose(result.unit_mel, reference.unit_mel, rtol=0, atol=tolerance)
        assert [row["step"] for row in result.history] == [row["step"] for row in reference.history]


def batched(config: dict) -> dict:
    return {**config, "transfer": {**config["transfer"], "batch_pairs": 4}}


@pytest.mark.slow
def test_batched_pipeline_matches_one_job_per_pair_and_keeps_per_pair_rebuilds(built_workdir, tmp_path):
    workdir = make_workdir(tmp_path / "batched", batched(tiny_config()))
    snakemake(workdir)
    results, reference = workdir / "results", built_workdir / "results"
    for style in ("chirp", "noise"):  # knn: the same matching as one job per pair
        stem = f"stylised/hifigan/random_cnn/tone/{style}"
        np.testing.assert_allclose(np.load(results / f"{stem}.npy"), np.load(reference / f"{stem}.npy"), atol=1e-6)
        history, expected = (pd.read_csv(r / f"{stem}.history.tsv", sep="\t") for r in (results, reference))
        np.testing.assert_allclose(history[["total", "content", "style"]], expected[["total", "content", "style"]],
                                   rtol=1e-6)  # fmt: skip
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert len(metrics) == 2 and (metrics.transfer_job_s >= metrics.transfer_s).all()
    assert (results / "logs/transfer/hifigan/random_cnn/chirp.log").is_file()  # one transfer job per style
    assert (results / "logs/vocode/griffinlim/random_cnn/chirp.log").is_file()  # one vocode job per style
    for style in ("chirp", "noise"):  # the same mel rendered in a batch as alone
        wav = f"audio/griffinlim/random_cnn/tone/{style}.wav"
        np.testing.assert_allclose(sf.read(results / wav)[0], sf.read(reference / wav)[0], atol=1e-5)

    # a new content: each style's batch reruns, but only the new pairs' files and what follows them are written
    config = batched(tiny_config())
    config["clips"].append({"id": "tone2", "path": "audio/tone2.wav", "vad": "energy", "role": "content"})
    write_wav(workdir / "audio/tone2.wav", harmonic(0.8, 16000, f0=220.0), 16000)
    write_config(workdir, config)
    before = output_mtimes(workdir)
    snakemake(workdir)
    changed = {path for path, mtime in output_mtimes(workdir).items() if before.get(path) != mtime}
    per_pair = {p for p in changed if p.startswith(("stylised/", "audio/", "metrics/", "plots/griffinlim"))}
    assert per_pair and all("/tone2/" in p for p in per_pair), sorted(per_pair)
    staged = {p for p in changed if p.startswith(("stylised_batches/", "audio_batches/"))
              and not p.endswith("/.snakemake_timestamp")}  # fmt: skip
    assert staged == {
        f"stylised_batches/hifigan/random_cnn/{style}/{name}{suffix}"
        for style in ("chirp", "noise") for name in ("tone", "tone2")
        for suffix in (".npy", ".history.tsv", ".json")
    } | {
        f"audio_batches/griffinlim/random_cnn/{style}/{name}{suffix}"
        for style in ("chirp", "noise") for name in ("tone", "tone2") for suffix in (".wav", ".json")
    }  # fmt: skip

    # the batch directories are only a staging area: deleting them costs no rebuild
    shutil.rmtree(results / "stylised_batches")
    shutil.rmtree(results / "audio_batches")
    assert "Nothing to be done" in snakemake(workdir, "--dry-run").stdout


def planned_jobs(workdir) -> dict[str, int]:
    """Jobs per rule of a dry run."""
    stats = snakemake(workdir, "--dry-run").stdout.split("Job stats:")[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)}


@pytest.mark.parametrize(("device", "per_style_jobs", "copies"), [("cpu", 4, 0), ("cuda", 2, 4)])
def test_batch_pairs_auto_plans_one_gpu_job_per_style_exactly_when_the_jobs_run_on_a_gpu(
    tmp_path, device, per_style_jobs, copies
):
    """Two contents x two styles, planned (a dry run needs no GPU): transfer and vocode jobs one per pair on the
    CPU, one per style on a GPU, each pair's files then copied out by its transfer_output and vocode_output jobs."""
    config = tiny_config(device=device)
    del config["transfer"]["batch_pairs"]  # auto, the default
    config["clips"].append({"id": "tone2", "path": "audio/tone2.wav", "vad": "energy", "role": "content"})
    workdir = make_workdir(tmp_path, config)
    write_wav(workdir / "audio/tone2.wav", harmonic(0.8, 16000, f0=220.0), 16000)
    jobs = planned_jobs(workdir)
    assert (jobs["transfer"], jobs["vocode"]) == (per_style_jobs, per_style_jobs)
    assert (jobs.get("transfer_output", 0), jobs.get("vocode_output", 0), jobs["evaluate"]) == (copies, copies, 4)


def test_gpu_jobs_follows_the_device_the_driver_and_cuda_visible_devices(tmp_path, monkeypatch):
    gpus = tmp_path / "gpus"
    monkeypatch.setattr(settings, "NVIDIA_GPUS", gpus)
    assert not settings.gpu_jobs("auto", {})  # no driver
    (gpus / "0000:00:05.0").mkdir(parents=True)
    assert settings.gpu_jobs("auto", {}) and settings.gpu_jobs("auto", {"CUDA_VISIBLE_DEVICES": "0"})
    assert not settings.gpu_jobs("auto", {"CUDA_VISIBLE_DEVICES": ""})  # hidden, as `CUDA_VISIBLE_DEVICES= pytest`
    assert not settings.gpu_jobs("cpu", {}) and settings.gpu_jobs("cuda", {"CUDA_VISIBLE_DEVICES": ""})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.chdir(make_workdir(tmp_path / "workdir", tiny_config()))  # the clips' paths are checked
    assert load_pipeline(tiny_config(device="auto", transfer={})).transfer.batch_pairs == settings.GPU_BATCH_PAIRS
    explicit = tiny_config(device="auto", transfer={"batch_pairs": 3})
    assert load_pipeline(explicit).transfer.batch_pairs == 3
