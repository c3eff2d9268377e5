"""Bad inputs, odd formats, interruptions and determinism."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import REPO, chirp, harmonic, make_workdir, silence, snakemake, tiny_config, write_config, write_wav

from workflow_scripts.audio.audio_io import load_audio, normalise, resample, to_mono
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.audio.vad import trim
from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.pipeline.options import TrimSettings

FORMATS = [  # (file name, libsndfile format, subtype, channels, sample rate)
    ("u8.wav", "WAV", "PCM_U8", 1, 16000),
    ("s16.wav", "WAV", "PCM_16", 1, 22050),
    ("s24.wav", "WAV", "PCM_24", 2, 44100),
    ("s32.wav", "WAV", "PCM_32", 1, 48000),
    ("f32.wav", "WAV", "FLOAT", 1, 24000),
    ("f64.wav", "WAV", "DOUBLE", 1, 22050),
    ("six.wav", "WAV", "PCM_16", 6, 48000),
    ("narrow.wav", "WAV", "PCM_16", 1, 8000),
    ("hires.wav", "WAV", "PCM_24", 2, 96000),
    ("lossless.flac", "FLAC", "PCM_16", 2, 44100),
    ("lossy.ogg", "OGG", "VORBIS", 1, 44100),
    ("voice.opus", "OGG", "OPUS", 1, 48000),
    ("song.mp3", "MP3", "MPEG_LAYER_III", 2, 44100),
]


def prepared_features(path, method="energy"):
    """What the trim -> resample -> mel stages do to one file."""
    audio, sr = load_audio(path)
    trimmed = trim(audio, sr, TrimSettings(method=method, padding_ms=0), str(path))
    mono = normalise(resample(to_mono(trimmed), sr, HIFIGAN.sample_rate), "peak", -1.0)
    return trimmed, HIFIGAN.features(mono)


@pytest.mark.parametrize(("name", "container", "subtype", "channels", "sr"), FORMATS, ids=[f[0] for f in FORMATS])
def test_every_supported_format_goes_through_the_front_end(tmp_path, name, container, subtype, channels, sr):
    mono = np.concatenate([silence(0.25, sr), harmonic(1.0, sr, f0=200.0), silence(0.25, sr)])
    audio = np.stack([mono * (1 - 0.1 * c) for c in range(channels)]) if channels > 1 else mono
    path = tmp_path / name
    sf.write(path, audio.T, sr, format=container, subtype=subtype)
    trimmed, features = prepared_features(path)
    assert trimmed.shape[0] == channels
    smear = 0.04 if subtype in ("OPUS", "MPEG_LAYER_III") else 0.0  # pre-echo of lossy codecs spreads the onsets
    assert trimmed.shape[1] / sr == pytest.approx(1.0, abs=0.04 + smear)
    assert features.shape[0] == 80 and features.shape[1] == pytest.approx(trimmed.shape[1] / sr * 22050 / 256, abs=2)
    assert np.isfinite(features).all() and features.max() > np.log(1e-5) + 5


def test_a_ten_minute_file_keeps_its_length(tmp_path):
    sr = 16000
    path = write_wav(tmp_path / "long.wav", np.tile(harmonic(1.0, sr), 600), sr, subtype="PCM_16")
    _, features = prepared_features(path, method="webrtcvad")
    assert features.shape == (80, 600 * 22050 // 256)


def test_heavy_clipping_is_processed_and_normalised(tmp_path):
    clipped = np.clip(8.0 * harmonic(1.0, 22050), -1.0, 1.0)
    assert np.mean(np.abs(clipped) == 1.0) > 0.3
    path = write_wav(tmp_path / "hot.wav", clipped, 22050, subtype="PCM_16")
    audio, _ = load_audio(path)
    assert np.max(np.abs(normalise(to_mono(audio), "peak", -1.0))) == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    assert np.isfinite(prepared_features(path)[1]).all()


def test_infinite_samples_are_rejected(tmp_path):
    audio = harmonic(0.2, 16000)
    audio[5] = np.inf
    with pytest.raises(InputError, match=r"inf\.wav: contains NaN or infinite samples"):
        load_audio(write_wav(tmp_path / "inf.wav", audio, 16000))


@pytest.mark.slow
def test_each_bad_input_fails_in_the_pipeline_with_one_line_naming_the_users_file(tmp_path):
    """The inputs a new user tripped over: each is refused at trimming, named by its own path, whatever the vad."""
    bad = {  # clip id: (audio at 22.05 kHz, vad, message after "audio/<id>.wav: ")
        "faint": (harmonic(1.0, 22050) * 6e-5, "energy", "peaks at -90 dBFS, below the -60 dBFS floor"),
        "zeros": (silence(1.0, 22050), "none", "is digital silence, below the -60 dBFS floor"),
        "brief": (harmonic(0.1, 22050), "none", "0.10 s after trimming is shorter than the 0.5 s the analysis needs"),
        "click": (
            np.concatenate([harmonic(0.03, 22050), silence(1.0, 22050)]),
            "energy",
            "0.15 s after trimming is shorter than the 0.5 s the analysis needs",
        ),
    }
    config = tiny_config(pairs=[{"content": "tone", "style": name} for name in bad])
    config["clips"] += [{"id": name, "path": f"audio/{name}.wav", "vad": vad} for name, (_, vad, _) in bad.items()]
    workdir = make_workdir(tmp_path, config)
    for name, (audio, _, _) in bad.items():
        write_wav(workdir / f"audio/{name}.wav", audio, 22050)
    process = snakemake(workdir, "--keep-going", check=False)
    assert process.returncode != 0
    failures = pd.read_csv(workdir / "results/failures.tsv", sep="\t")
    assert list(failures["job"]) == [f"clip={name}" for name in sorted(bad)] and set(failures["rule"]) == {"trim"}
    for name, message in zip(failures["job"], failures["message"], strict=True):
        clip = name.removeprefix("clip=")
        assert message.startswith(f"audio/{clip}.wav: {bad[clip][2]}"), message
        assert f"audio/{clip}.wav: " in process.stderr
    assert "results/resampled" not in "".join(failures["message"])


@pytest.mark.slow
def test_a_mixed_corpus_with_bad_files_completes_every_unaffected_pair(tmp_path):
    workdir = tmp_path
    audio = workdir / "corpus"
    write_wav(audio / "voix élevée.flac", np.stack([harmonic(0.8, 48000)] * 2), 48000, subtype="PCM_24")
    sf.write(audio / "six channels.wav", np.stack([harmonic(0.8, 8000)] * 6).T, 8000, subtype="PCM_16")
    sf.write(audio / "take.ogg", harmonic(0.8, 44100), 44100, format="OGG", subtype="VORBIS")
    (audio / "empty.wav").write_bytes(b"")
    write_wav(audio / "quiet.wav", silence(1.0, 16000), 16000)
    write_wav(audio / "style.wav", chirp(0.8, 22050), 22050)
    sheet = "path\trole\tvad\n" + "".join(
        f"{name}\tcontent\tenergy\n"
        for name in ("voix élevée.flac", "six channels.wav", "take.ogg", "empty.wav", "quiet.wav")
    )
    (audio / "clips.tsv").write_text(sheet + "style.wav\tstyle\tnone\n", encoding="utf-8")
    write_config(workdir, tiny_config(clips=[], sample_sheet="corpus/clips.tsv"))

    # the default target and the report, as `make demo` and `make report` ask for them
    process = snakemake(workdir, "--keep-going", "all", "results/report.html", check=False)
    assert process.returncode != 0
    assert "2 job(s) failed; see results/failures.tsv" in process.stderr
    assert "3 of 5 outputs are in place" in process.stderr
    assert "metrics: results/metrics.tsv (provisional)" in process.stderr

    results = workdir / "results"
    for good in ("voix_élevée", "six_channels", "take"):
        assert (results / f"metrics/griffinlim/random_cnn/{good}/style.tsv").is_file()
    failures = pd.read_csv(results / "failures.tsv", sep="\t")
    assert list(failures["job"]) == ["clip=empty", "clip=quiet"] and set(failures["rule"]) == {"trim"}
    assert failures["message"][0].startswith("corpus/empty.wav: not a readable audio file")
    assert failures["message"][1].startswith("corpus/quiet.wav: is digital silence, below the -60 dBFS floor")
    assert not list(results.rglob(".*"))  # no temporary files left behind
    assert not (results / "trimmed/empty.wav").exists()

    # the corpus results are built from the three good outputs and list the two that failed, with the reason
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t", keep_default_na=False)
    assert list(metrics["content"]) == ["empty", "quiet", "six_channels", "take", "voix_élevée"]
    failed = metrics[metrics["failure"] != ""]
    assert list(failed["content"]) == ["empty", "quiet"] and (failed["style_match"] == "").all()
    assert failed["failure"].iloc[0].startswith("trim: corpus/empty.wav: not a readable audio file")
    assert (metrics["style_match"][metrics["failure"] == ""] != "").all()
    first_hash = metrics["config_hash"].iloc[0]
    assert len(first_hash) == 12 and metrics["commit"].iloc[0]  # provenance on every row
    assert (results / "plots/summary.png").stat().st_size > 10_000
    page = (results / "report.html").read_text(encoding="utf-8")
    assert "This run did not finish: 3 of 5 outputs were built." in page
    assert "corpus/empty.wav: not a readable audio file" in page and page.count('class="output-audio"') == 3
    assert f'<code id="config-hash">{first_hash}</code>' in page
    # provisional: dated before their inputs, so that the next run rebuilds them through their rules
    dry_run = snakemake(workdir, "--dry-run", "all", "results/report.html").stdout
    assert all(f"rule {rule}:" in dry_run for rule in ("aggregate_metrics", "plot_summary", "report"))

    # fixing the corpus (dropping the bad files) and rerunning the default target: complete results, no failures,
    # and the report of the failed run, which the default target does not rebuild, is gone rather than stale
    (audio / "clips.tsv").write_text(
        "\n".join(line for line in (sheet + "style.wav\tstyle\tnone\n").splitlines() if "empty" not in line
                  and "quiet" not in line) + "\n", encoding="utf-8")  # fmt: skip
    process = snakemake(workdir)
    assert len(pd.read_csv(results / "failures.tsv", sep="\t")) == 0
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t", keep_default_na=False)
    assert len(metrics) == 3 and (metrics["failure"] == "").all() and metrics["config_hash"].iloc[0] != first_hash
    assert not (results / "report.html").exists()
    assert "Removed results/report.html" in process.stderr and "3 of 3 outputs are in place" in process.stderr


def artifacts(workdir):
    """Every data artifact (audio and arrays) of a run, loaded."""
    results = workdir / "results"
    loaded = {}
    for path in sorted(results.rglob("*")):
        if path.suffix == ".npy":
            loaded[str(path.relative_to(results))] = np.load(path)
        elif path.suffix == ".wav":
            loaded[str(path.relative_to(results))] = sf.read(path, dtype="float32")[0]
    return loaded


def slow_config():
    """Long enough transfers to be killed in the middle of optimisation."""
    return tiny_config(transfer={"iterations": 400, "tolerance": 0}, backbones={"random_cnn": {"filters": 256}})


@pytest.mark.slow
def test_sigkill_mid_transfer_then_restart_equals_an_uninterrupted_run(tmp_path):
    reference = make_workdir(tmp_path / "reference", slow_config())
    snakemake(reference)

    workdir = make_workdir(tmp_path / "killed", slow_config())
    # one job at a time, so the kill lands in the transfer alone (a job killed after its output was in place, such as
    # a mel beside it, would need --rerun-incomplete)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--cores", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    logs = workdir / "results/logs/transfer"
    deadline = time.monotonic() + 300
    while not any("in the style of" in p.read_text() for p in logs.rglob("*.log")) if logs.exists() else True:
        assert time.monotonic() < deadline and process.poll() is None, "no transfer started"
        time.sleep(0.05)
    time.sleep(0.5)  # inside the optimisation loop
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    stylised = workdir / "results/stylised"
    assert not list(stylised.rglob("*.npy")), "a transfer output appeared under its final name before completion"

    snakemake(workdir, "--unlock")
    snakemake(workdir)
    expected, actual = artifacts(reference), artifacts(workdir)
    assert sorted(actual) == sorted(expected) and len(actual) >= 10
    for name, array in expected.items():  # CPU runs are bit-identical
        np.testing.assert_array_equal(actual[name], array, err_msg=name)
    assert not list((workdir / "results").rglob(".*"))
