"""Transfer quality on real recordings: the real pipeline on the pairs of :mod:`benchmarks.quality_corpus`.

Each variant runs ``snakemake`` in its own folder under ``bench_out/quality/`` with every backbone (random weights)
and both default vocoders, and the metrics come from that run's ``results/metrics.tsv``. Printed per variant:
one table per backbone x vocoder with the median and the worst pair of every metric, the targets of the quality
issue against the default backbone with HiFi-GAN, and the per-pair rows of that combination. A spectrogram sheet
per backbone x vocoder (content, style, stylised mel, rendered audio of every pair) is written beside the run.

Usage: ``python -m benchmarks quality`` (``make bench quality``); ``QUALITY_VARIANTS=knn`` runs one variant;
``QUALITY_BACKBONES=random_cnn`` and ``QUALITY_VOCODERS=hifigan`` (comma-separated) limit what a variant runs;
``QUALITY_SNAKEMAKE_ARGS="--rerun-triggers mtime"`` keeps a variant's outputs after a change of params that does not
change them (a new option with its old default, say) instead of rebuilding them.
``make bench quality_levers`` changes one option of the default at a time (random_cnn + HiFi-GAN);
``QUALITY_LEVERS`` (comma-separated names of :data:`LEVERS`) runs some of them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks.common import print_table
from benchmarks.quality_corpus import CLIPS, PAIRS, BenchClip, build
from workflow_scripts.audio.audio_io import load_audio
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.metrics.metrics import decibels
from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS

REPO = Path(__file__).resolve().parents[1]
ROOT = Path("bench_out/quality")
DEFAULT_BACKBONE, DEFAULT_VOCODER = "random_cnn", "hifigan"


@dataclass(frozen=True)
class Variant:
    """A run of the pipeline: what it changes in config.yaml's transfer options, its backbones (name: options)
    and its vocoders."""

    transfer: dict
    backbones: dict
    vocoders: tuple[str, ...] = ("griffinlim", "hifigan")


RANDOM_CNN = {"random_cnn": {}}
VARIANTS = {
    "knn": Variant({}, {name: {} for name in BACKBONE_OPTIONS}),
    "gatys": Variant({"method": "gatys"}, RANDOM_CNN),
}
# One lever of the default changed at a time (random_cnn + HiFi-GAN): what each step of the method is worth.
LEVERS = {
    "knn envelope shift (formants move)": Variant({"envelope": "shift"}, RANDOM_CNN, ("hifigan",)),
    "knn k 1": Variant({"k": 1}, RANDOM_CNN, ("hifigan",)),
    "knn loudness 1 (content)": Variant({"loudness": 1.0}, RANDOM_CNN, ("hifigan",)),
    "knn max_shift 0 (no pitch shifts)": Variant({"max_shift": 0}, RANDOM_CNN, ("hifigan",)),
    "knn multi-scale CNN (widths 3+11+31)": Variant({}, {"random_cnn": {"widths": [3, 31]}}, ("hifigan",)),
    "knn quiet_db 20 (quiet frames keep the content's level)": Variant({"quiet_db": 20.0}, RANDOM_CNN, ("hifigan",)),
    "knn quiet_db 40": Variant({"quiet_db": 40.0}, RANDOM_CNN, ("hifigan",)),
    "knn level_db 10 (loud frames take loud frames)": Variant({"level_db": 10.0}, RANDOM_CNN, ("hifigan",)),
    "knn harmony 0.5 (chroma in the similarity)": Variant({"harmony": 0.5}, RANDOM_CNN, ("hifigan",)),
    "knn continuity 20": Variant({"continuity": 20}, RANDOM_CNN, ("hifigan",)),
    "knn transition 1 (Viterbi match path)": Variant({"transition": 1.0}, RANDOM_CNN, ("hifigan",)),
    "knn voice_db 6 (voiced frames take the style's formant envelope)": Variant(
        {"voice_db": 6.0}, RANDOM_CNN, ("hifigan",)
    ),
    "knn refine_steps 10 (Gatys refinement, loudness re-applied)": Variant(
        {"refine_steps": 10}, RANDOM_CNN, ("hifigan",)
    ),
    "gatys (previous default)": Variant({"method": "gatys"}, RANDOM_CNN, ("hifigan",)),
    "gatys multi-scale CNN (widths 3+11+31)": Variant(
        {"method": "gatys"}, {"random_cnn": {"widths": [3, 31]}}, ("hifigan",)
    ),
}
# Stages every variant shares (they do not depend on transfer options): copied from the knn run when present.
SHARED_STAGES = ("synth", "trimmed", "resampled", "mel", "pitch")

# (column, better direction, label); "worst" is the minimum for higher-is-better columns, else the maximum.
SUMMARY = (
    ("envelope_corr", "higher", "envelope corr"),
    ("loudness_corr", "higher", "loudness corr"),
    ("quiet_lift_lu", "lower", "quiet lift LU"),
    ("chroma_corr", "higher", "chroma corr"),
    ("frame_change_ratio", "lower", "frame change ratio"),
    ("frame_change_ratio_mel", "lower", "frame change ratio (mel)"),
    ("f0_corr", "higher", "F0 corr"),
    ("voicing_agreement", "higher", "voicing agree"),
    ("style_match", "higher", "style match"),
    ("style_match_mel", "higher", "style match (mel)"),
    ("speaker_sim_style", "higher", "speaker sim to style"),
    ("speaker_moved", "higher", "speaker moved"),
    ("dnsmos_ovrl_change", "higher", "DNSMOS OVRL change"),
    ("reconstruction_sc_db", "lower", "render SC dB"),
    ("transfer_s", "lower", "transfer s"),
)

POLYPHONIC = {clip.id for clip in CLIPS if clip.polyphonic}
# The quality issues' targets: (label, column, rows it applies to, median target, floor for every pair); a column
# of LOWER_IS_BETTER meets its target at or below it, and its worst pair is its largest value.
TARGETS: tuple[tuple[str, str, Callable[[pd.DataFrame], pd.Series], float, float], ...] = (
    ("content kept: envelope corr", "envelope_corr", lambda t: t["envelope_corr"].notna(), 0.9, 0.8),
    ("content kept: loudness corr", "loudness_corr", lambda t: t["loudness_corr"].notna(), 0.9, 0.8),
    ("harmony kept: chroma corr (polyphonic content)", "chroma_corr",
     lambda t: t["content"].isin(POLYPHONIC) & t["chroma_corr"].notna(), 0.8, 0.6),
    ("smooth: frame change ratio", "frame_change_ratio", lambda t: t["frame_change_ratio"].notna(), 1.5, 1.5),
    ("content kept: F0 corr (pitched content)", "f0_corr", lambda t: t["f0_corr"].notna(), 0.9, 0.7),
    ("style moved: style_match", "style_match", lambda t: t["style_match"].notna(), 0.5, 0.25),
    ("speaker moved (speaker pairs)", "speaker_moved", lambda t: t["speaker_moved"].notna(), 0.5, 0.25),
    ("DNSMOS OVRL change (speaker pairs)", "dnsmos_ovrl_change",
     lambda t: (t["style_kind"] == "speech") & t["dnsmos_ovrl_change"].notna(), -0.5, -0.5),
)  # fmt: skip
LOWER_IS_BETTER = {"frame_change_ratio"}


def clip_entry(clip: BenchClip, path: Path) -> dict:
    trim = "webrtcvad" if clip.kind == "speech" else "energy"
    return {"id": clip.id, "path": str(path.resolve()), "kind": clip.kind, "vad": trim}


def config_for(paths: dict[str, Path], variant: Variant) -> dict:
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    return {
        "clips": [clip_entry(clip, paths[clip.id]) for clip in CLIPS],
        "pairs": [{"content": p.content, "style": p.style} for p in PAIRS],
        "trim": base.get("trim", {}),
        "normalise": base.get("normalise", {}),
        "transfer": {**base.get("transfer", {}), **variant.transfer},
        "backbones": {name: {"weights": "random", **options} for name, options in variant.backbones.items()},
        "vocoders": {name: {"griffinlim": {"convention": "hifigan"}, "hifigan": {}}[name] for name in variant.vocoders},
        "device": base.get("device", "auto"),
        "threads": base.get("threads", 2),
    }


def run_variant(name: str, variant: Variant, paths: dict[str, Path]) -> pd.DataFrame:
    workdir = ROOT / name.replace(" ", "_")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config_for(paths, variant), sort_keys=False))
    for stage in SHARED_STAGES:
        source, target = ROOT / "knn/results" / stage, workdir / "results" / stage
        if source.is_dir() and source != target and not target.exists():
            shutil.copytree(source, target)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--cores", str(len(os.sched_getaffinity(0))), "--quiet", "rules",
               *shlex.split(os.environ.get("QUALITY_SNAKEMAKE_ARGS", ""))]  # fmt: skip
    print(f"\n# quality variant {name}: {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)
    return pd.read_csv(workdir / "results/metrics.tsv", sep="\t")


def summary_rows(table: pd.DataFrame) -> list[dict]:
    rows = []
    for (backbone, vocoder), group in table.groupby(["backbone", "vocoder"], sort=True):
        for statistic in ("median", "worst"):
            row = {"backbone": backbone, "vocoder": vocoder, "": statistic}
            for column, better, label in SUMMARY:
                values = group[column].dropna()
                if values.empty:
                    row[label] = ""
                elif statistic == "median":
                    row[label] = float(values.median())
                else:
                    row[label] = float(values.min() if better == "higher" else values.max())
            rows.append(row)
    return rows


def target_rows(table: pd.DataFrame) -> list[dict]:
    rows = []
    for label, column, applies, median_target, floor in TARGETS:
        values = table.loc[applies(table), column]
        sign = -1.0 if column in LOWER_IS_BETTER else 1.0  # compare as higher-is-better
        worst = table.loc[(sign * values).idxmin()] if len(values) else None
        rows.append({
            "target": label, "pairs": len(values),
            "median": float(values.median()) if len(values) else "", "target median": median_target,
            "worst": float(worst[column]) if len(values) else "", "floor": floor,
            "worst pair": f"{worst['content']} > {worst['style']}" if worst is not None else "",
            "met": bool(len(values) and sign * values.median() >= sign * median_target
                        and (sign * values).min() >= sign * floor),
        })  # fmt: skip
    return rows


def pair_rows(table: pd.DataFrame) -> list[dict]:
    category = {(p.content, p.style): p.category for p in PAIRS}
    return [
        {"pair": f"{r.content} > {r.style}", "category": category[(r.content, r.style)],
         **{label: getattr(r, column) for column, _, label in SUMMARY if column != "transfer_s"}}
        for r in table.itertuples()
    ]  # fmt: skip


def spectrogram_sheet(workdir: Path, backbone: str, vocoder: str, path: Path) -> None:
    """Content, style, stylised mel and rendered audio (hifigan mel, dB) of every pair, one row each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = workdir / "results"
    figure, axes = plt.subplots(len(PAIRS), 4, figsize=(16, 1.7 * len(PAIRS)), squeeze=False)
    for row, pair in enumerate(PAIRS):
        content = load_audio(results / f"resampled/{HIFIGAN.sample_rate}hz/{pair.content}.wav")[0][0]
        style = load_audio(results / f"resampled/{HIFIGAN.sample_rate}hz/{pair.style}.wav")[0][0]
        stem = f"{backbone}/{pair.content}/{pair.style}"
        panels = [
            (f"content: {pair.content}", HIFIGAN.features(content)),
            (f"style: {pair.style}", HIFIGAN.features(style)),
            (f"stylised mel ({backbone})", np.load(results / f"stylised/hifigan/{stem}.npy")),
            (f"rendered ({vocoder})", HIFIGAN.features(load_audio(results / f"audio/{vocoder}/{stem}.wav")[0][0])),
        ]
        for column, (label, features) in enumerate(panels):
            db = decibels(features, HIFIGAN)
            axis = axes[row][column]
            axis.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max())
            axis.set_title(label, fontsize=8)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"{backbone} + {vocoder}: content, style, stylised mel, rendered audio (hifigan mel, 80 dB)")
    figure.tight_layout()
    figure.savefig(path, dpi=72)
    plt.close(figure)


def limited(variant: Variant) -> Variant:
    """``variant`` with only the backbones of ``QUALITY_BACKBONES`` and the vocoders of ``QUALITY_VOCODERS`` (each
    comma-separated; unset: all of the variant's)."""
    backbones, vocoders = os.environ.get("QUALITY_BACKBONES"), os.environ.get("QUALITY_VOCODERS")
    return Variant(
        variant.transfer,
        {k: v for k, v in variant.backbones.items() if not backbones or k in backbones.split(",")},
        tuple(v for v in variant.vocoders if not vocoders or v in vocoders.split(",")),
    )


def run() -> None:
    paths = build(ROOT / "corpus")
    selected = os.environ.get("QUALITY_VARIANTS", ",".join(VARIANTS)).split(",")
    for name in selected:
        variant = limited(VARIANTS[name])
        table = run_variant(name, variant, paths)
        print_table(f"Quality, variant {name} ({variant.transfer or 'config.yaml'}): {len(PAIRS)} real-recording "
                    "pairs, median and worst pair per backbone x vocoder", summary_rows(table))  # fmt: skip
        default = table[(table["backbone"] == DEFAULT_BACKBONE) & (table["vocoder"] == DEFAULT_VOCODER)]
        print_table(f"Quality targets, variant {name}, {DEFAULT_BACKBONE} + {DEFAULT_VOCODER}", target_rows(default))
        print_table(f"Per pair, variant {name}, {DEFAULT_BACKBONE} + {DEFAULT_VOCODER}", pair_rows(default))
        for backbone in variant.backbones:
            for vocoder in variant.vocoders:
                sheet = ROOT / f"sheet_{name}_{backbone}_{vocoder}.png"
                spectrogram_sheet(ROOT / name, backbone, vocoder, sheet)
        print(f"\nspectrogram sheets: {ROOT}/sheet_{name}_*.png")


def run_levers() -> None:
    """One lever of the default changed at a time; one row per variant, medians (worst pair in brackets)."""
    paths = build(ROOT / "corpus")
    rows = []
    # QUALITY_LEVERS="name,name" runs only those levers beside the default
    selected = os.environ.get("QUALITY_LEVERS")
    levers = {name: LEVERS[name] for name in selected.split(",")} if selected else LEVERS
    # the default's row needs only random_cnn + HiFi-GAN (a later `quality` run adds the rest to the same folder)
    default = Variant({}, RANDOM_CNN, ("hifigan",))
    for name, variant in {"knn (default)": default, **levers}.items():
        table = run_variant("knn" if name == "knn (default)" else name, variant, paths)
        table = table[(table["backbone"] == DEFAULT_BACKBONE) & (table["vocoder"] == DEFAULT_VOCODER)]
        row = {"variant": name}
        for label, column, applies, _, _ in TARGETS:
            values = table.loc[applies(table), column]
            worst = values.max() if column in LOWER_IS_BETTER else values.min()
            row[label.split(":")[-1].strip()] = f"{values.median():.3f} ({worst:.3f})" if len(values) else ""
        rows.append(row)
    print_table(f"Levers: one option of the knn default changed at a time, {DEFAULT_BACKBONE} + {DEFAULT_VOCODER}, "
                f"{len(PAIRS)} pairs; median (worst pair)", rows)  # fmt: skip
