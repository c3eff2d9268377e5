"""Evaluation metrics of one output, against the cost of one librosa mel spectrogram of the same clip; then the
whole `evaluate` job as the pipeline runs it.

The field-standard metrics load their models once per job (CREPE, GE2E, DNSMOS); their first call, which loads
the model, is timed apart from the cost per output. The job table runs the real pipeline on two 10 s speech clips
under ``bench_out/evaluation`` (each in the style of the other, Griffin-Lim), then its `evaluate` jobs again, one at
a time, and reads the time each job took from its own process start (``evaluate_job_s`` of its metrics row):
interpreter start-up, imports, model loads, the metrics and the spectrogram panels; and its CPU time
(``evaluate_cpu_s``), which other work on a shared machine disturbs less. Target (issue 22): under 5 s per
10 s output on the 2-core development machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import librosa
import pandas as pd
import soundfile as sf
import yaml

from benchmarks.common import clip, print_table, source_of, timed
from benchmarks.dag import REPO
from workflow_scripts.audio.conventions import EVALUATION, HIFIGAN
from workflow_scripts.audio.pitch import f0_track
from workflow_scripts.metrics import perceptual
from workflow_scripts.metrics.metrics import (
    content_preservation,
    evaluation_db,
    evaluation_frame_rate,
    reconstruction_consistency,
    style_match,
)


def run(seconds: float = 10.0) -> None:
    """Both tables: the metrics of one output in this process, then the pipeline's evaluate jobs."""
    run_metrics(seconds)
    run_jobs(seconds)


def mel_baseline_s(seconds: float) -> float:
    """Best of 3: librosa's mel spectrogram of three ``seconds`` clips, the yardstick both tables are read against."""
    rate = EVALUATION.sample_rate
    clips = [clip(name, rate, seconds) for name in ("content2", "style2", "content2")]
    best, _ = timed(
        lambda: [librosa.feature.melspectrogram(y=a, sr=rate, n_fft=1024, hop_length=256, n_mels=80) for a in clips],
        repeat=3,
    )
    return best


def run_metrics(seconds: float = 10.0) -> None:
    rate = EVALUATION.sample_rate
    content, style = clip("content2", rate, seconds), clip("style2", rate, seconds)
    output = 0.5 * content + 0.5 * style  # stands in for a rendered output: its metrics are not the point here
    clips = (content, style, output)
    baseline_s = mel_baseline_s(seconds)
    analyse_s, (content_db, style_db, output_db) = timed(
        lambda: [evaluation_db(audio, rate) for audio in clips], repeat=3
    )
    content_s, _ = timed(lambda: content_preservation(content_db, output_db), repeat=3)
    style_s, _ = timed(lambda: style_match(content_db, style_db, output_db, evaluation_frame_rate()), repeat=3)
    features = HIFIGAN.features(output)
    reconstruction_s, _ = timed(lambda: reconstruction_consistency(features, output, HIFIGAN), repeat=3)
    times = EVALUATION.frame_times(output_db.shape[1])
    pitch_load_s, _ = timed(lambda: f0_track(output, rate, times[:10]))
    pitch_s, _ = timed(lambda: f0_track(output, rate, times), repeat=3)
    roles = {"content": (content, rate), "style": (style, rate), "output": (output, rate)}
    speech = {"content": "speech", "style": "speech"}
    speech_load_s, _ = timed(lambda: perceptual.speech_columns(*roles.values(), speech))
    speaker_s, _ = timed(lambda: [perceptual.speaker_embedding(*clip) for clip in roles.values()], repeat=3)
    dnsmos_s, _ = timed(lambda: [perceptual.dnsmos(*roles[name]) for name in ("content", "output")], repeat=3)
    rows = [
        ("librosa.feature.melspectrogram of the 3 clips (baseline)", baseline_s),
        ("evaluation log-mel of content, style, output", analyse_s),
        ("content preservation", content_s),
        ("style match (3 texture statistics)", style_s),
        ("reconstruction consistency (re-analysis + SC)", reconstruction_s),
        ("F0 of the output (CREPE-tiny; the content's comes from rule pitch)", pitch_s),
        ("speaker embeddings of content, style, output (GE2E)", speaker_s),
        ("DNSMOS of content and output", dnsmos_s),
    ]
    total = analyse_s + content_s + style_s + reconstruction_s + pitch_s + speaker_s + dnsmos_s
    rows.append(("all metrics of one speech-to-speech output", total))
    rows.append(("once per job: first F0 call (loads CREPE), 10 frames", pitch_load_s))
    rows.append(("once per job: first speech columns (loads GE2E and DNSMOS)", speech_load_s))
    print_table(
        f"Evaluation metrics, {seconds:g} s clips ({source_of('content2')}, {source_of('style2')}), best of 3",
        [{"step": name, "seconds": s, "x baseline": s / baseline_s} for name, s in rows]
        + [{"step": "real-time factor of all metrics", "seconds": total / seconds, "x baseline": ""}],
    )


JOB_TARGET_S = 5.0


def run_jobs(seconds: float = 10.0) -> None:
    """Wall time of the pipeline's `evaluate` job per ``seconds`` output (see the module docstring)."""
    workdir = Path("bench_out/evaluation").resolve()
    clips = []
    for name in ("content2", "style2"):
        path = workdir / "audio" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip(name, 22050, seconds), 22050)
        clips.append({"id": name, "path": str(path), "vad": "webrtcvad", "kind": "speech"})
    config = {
        "clips": clips,
        "pairs": "cross",
        "backbones": {"random_cnn": {}},
        "vocoders": {"griffinlim": {"convention": "hifigan", "iterations": 16}},
        "device": "cpu",
        "threads": 2,
    }
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                 str(workdir), "--quiet", "rules"]  # fmt: skip
    subprocess.run([*snakemake, "--cores", "2"], check=True)
    # again, one job at a time, so that each job's time is its own
    subprocess.run([*snakemake, "--cores", "1", "--forcerun", "evaluate"], check=True)
    rows = pd.read_csv(workdir / "results/metrics.tsv", sep="\t")
    baseline_s = mel_baseline_s(seconds)
    print_table(
        f"The evaluate job, {seconds:g} s outputs ({source_of('content2')} clips as kind speech: every metric), one "
        f"job at a time, from each job's process start; target under {JOB_TARGET_S:g} s",
        [{"job": "librosa.feature.melspectrogram of 3 clips, in this process (baseline)", "seconds": baseline_s,
          "x baseline": 1.0, "CPU s": "", "peak MiB": "", "target met": ""}]
        + [
            {"job": f"evaluate: {row.content} in the style of {row.style}", "seconds": row.evaluate_job_s,
             "x baseline": row.evaluate_job_s / baseline_s, "CPU s": row.evaluate_cpu_s,
             "peak MiB": row.evaluate_max_rss_mb, "target met": row.evaluate_job_s < JOB_TARGET_S}
            for row in rows.itertuples()
        ],
    )  # fmt: skip
