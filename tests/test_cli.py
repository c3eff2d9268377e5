"""The console script audio-style-transfer: one transfer in one call, the same outputs as the Snakemake run."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from conftest import REPO, TEST_DEVICE, chirp, harmonic, noise_bursts, silence, snakemake

from workflow_scripts.pipeline import cli

CONSOLE_SCRIPT = Path(sys.executable).parent / "audio-style-transfer"
# The tiny options of conftest.tiny_config, as a user's --config file (no corpus: the command gives it)
TINY = {
    "transfer": {"iterations": 4},
    "backbones": {"random_cnn": {"filters": 64, "width": 5}},
    "vocoders": {"griffinlim": {"iterations": 4, "nnls_iterations": 10}},
    "threads": 1,
    "device": TEST_DEVICE,
}


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """A stereo MP3 content and a 24-bit FLAC style: two formats a new user has."""
    folder.mkdir(parents=True, exist_ok=True)
    content = np.concatenate([silence(0.2, 44100), harmonic(1.2, 44100, f0=180.0, vibrato=0.02)])
    sf.write(folder / "voice.mp3", np.stack([content, 0.8 * content]).T, 44100, format="MP3")
    sf.write(folder / "sweep.flac", chirp(1.0, 48000), 48000, subtype="PCM_24")
    return folder / "voice.mp3", folder / "sweep.flac"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_one_call_renders_the_pair_as_the_snakemake_run_does_and_reuses_its_cache(tmp_path):
    content, style = write_inputs(tmp_path / "in")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    workdir = tmp_path / "cache"
    args = [str(content), str(style), "-o", "out.wav", "--config", "tiny.yaml", "--vad", "energy"]
    process = run_cli(*args, "--workdir", str(workdir), "--cores", "2", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    results = workdir / "results"
    row = results / "metrics/griffinlim/random_cnn/voice/sweep.tsv"
    assert process.stdout.splitlines() == [
        f"output:   {tmp_path / 'out.wav'}  (voice in the style of sweep)",
        f"metrics:  {results / 'metrics.tsv'}  (this output's row: {row})",
        f"plot:     {results / 'plots/summary.png'}",
        f"results:  {results}",
        f"config:   {workdir / 'config.yaml'}  "
        f"(rerun: snakemake --snakefile {REPO / 'Snakefile'} --directory {workdir})",
    ]
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert list(zip(metrics["content"], metrics["style"], strict=True)) == [("voice", "sweep")]
    assert sf.info(tmp_path / "out.wav").subtype == "PCM_16"

    # The equivalent Snakemake run: from a directory holding the demo's config.yaml, the same options and clips in a
    # --configfile (no --replace-workflow-config). Its output has the same bytes.
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "config.yaml").write_text((REPO / "config.yaml").read_text())
    user = {**TINY, "trim": {"method": "energy"}, "pairs": [{"content": "voice", "style": "sweep"}],
            "clips": [{"id": "voice", "path": str(content)}, {"id": "sweep", "path": str(style)}]}  # fmt: skip
    (reference / "mine.yaml").write_text(yaml.safe_dump(user))
    output = "results/audio/griffinlim/random_cnn/voice/sweep.wav"
    snakemake(reference, output, "--configfile", str(reference / "mine.yaml"))  # configfile takes several values
    assert (reference / output).read_bytes() == (tmp_path / "out.wav").read_bytes()

    # The same call again: the cache is reused, nothing reruns
    cached = (results / "audio/griffinlim/random_cnn/voice/sweep.wav").stat().st_mtime_ns
    again = run_cli(*args, "--workdir", str(workdir), cwd=tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr + again.stdout
    assert (results / "audio/griffinlim/random_cnn/voice/sweep.wav").stat().st_mtime_ns == cached


@pytest.mark.slow
def test_the_corpus_form_renders_every_good_pair_and_names_the_bad_clip(tmp_path):
    corpus = tmp_path / "corpus"
    write_inputs(corpus)
    sf.write(corpus / "hum.wav", noise_bursts(1.0, 22050) * 1e-4, 22050)  # -80 dBFS: refused
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    process = run_cli("--corpus", "corpus", "-o", "styled", "--config", "tiny.yaml", "--vad", "none", "--no-metrics",
                      "--workdir", str(tmp_path / "cache"), cwd=tmp_path)  # fmt: skip
    assert process.returncode != 0
    assert sorted(p.name for p in (tmp_path / "styled").iterdir()) == [
        "sweep_in_the_style_of_voice.wav",
        "voice_in_the_style_of_sweep.wav",
    ]
    assert f"{corpus / 'hum.wav'}: peaks at -" in process.stderr
    assert f"the workflow failed: 2 of 6 output(s) rendered; why: {tmp_path / 'cache/results/failures.tsv'}" in (
        process.stderr
    )


def test_a_directory_against_a_file_pairs_every_clip_with_unique_ids(tmp_path):
    for name in ("a/x.wav", "a/y.flac", "b/x.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / name, harmonic(0.6, 16000), 16000)
    corpus = cli.pair_corpus(cli.audio_clips(tmp_path / "a"), cli.audio_clips(tmp_path / "b/x.wav"))
    assert [clip["id"] for clip in corpus["clips"]] == ["x", "y", "x_2"]
    assert corpus["pairs"] == [{"content": "x", "style": "x_2"}, {"content": "y", "style": "x_2"}]
    # a file on both sides is one clip and is never paired with itself
    both = cli.pair_corpus(cli.audio_clips(tmp_path / "a"), cli.audio_clips(tmp_path / "a/y.flac"))
    assert [clip["id"] for clip in both["clips"]] == ["x", "y"] and both["pairs"] == [{"content": "x", "style": "y"}]


def test_the_commands_config_replaces_the_corpus_and_picks_one_backbone_and_vocoder(tmp_path):
    content, style = write_inputs(tmp_path)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"corpus_dir": "elsewhere", "transfer": {"k": 2}}))
    args = cli.parse_args([str(content), str(style), "--config", str(tmp_path / "mine.yaml"), "--method", "gatys"])
    config = cli.run_config(args)
    assert "corpus_dir" not in config and [clip["id"] for clip in config["clips"]] == ["voice", "sweep"]
    assert config["transfer"]["k"] == 2 and config["transfer"]["method"] == "gatys"
    assert config["backbones"] == {"random_cnn": yaml.safe_load((REPO / "config.yaml").read_text())["backbones"][
        "random_cnn"]}  # fmt: skip
    assert config["vocoders"] == {"hifigan": {}}  # the demo names griffinlim and hifigan: hifigan is the default
    assert cli.run_config(cli.parse_args([str(content), str(style), "--vocoder", "wavenet"]))["vocoders"] == {
        "wavenet": {}
    }


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["missing.wav", "{style}"], "audio-style-transfer: missing.wav: no such file or directory"),
        (
            ["{content}", "{style}", "--vocoder", "hifigam"],
            "audio-style-transfer: --vocoder hifigam: not in the config and not a type (did you mean 'hifigan'?); "
            "choose from griffinlim, hifigan, wavenet",
        ),
        (
            ["{content}", "{style}", "--config", "several.yaml"],
            "audio-style-transfer: the config names several (narrow, wide); choose one with --backbone",
        ),
    ],
)
def test_a_command_that_cannot_run_says_why_in_one_line(tmp_path, capsys, args, line):
    content, style = write_inputs(tmp_path)
    several = {"backbones": {"narrow": {"type": "random_cnn", "filters": 64}, "wide": {"type": "random_cnn"}}}
    (tmp_path / "several.yaml").write_text(yaml.safe_dump(several))
    argv = [a.format(content=content, style=style) for a in args]
    argv = [str(tmp_path / a) if a == "several.yaml" else a for a in argv]
    assert cli.main([*argv, "--workdir", str(tmp_path / "cache")]) == 2
    assert capsys.readouterr().err.strip() == line


def test_the_command_imports_nothing_heavy():
    code = (
        "import sys, workflow_scripts.pipeline.cli\n"
        "print([m for m in ('torch', 'torchvision', 'librosa') if m in sys.modules])"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert process.stdout.strip() == "[]"
