"""``audio-style-transfer``: one transfer (or a corpus) in one call, through the same Snakemake pipeline.

    audio-style-transfer CONTENT STYLE [-o OUT.wav] [--backbone NAME] [--vocoder NAME] [--method knn|gatys]
                         [--vad webrtcvad|energy|none] [--device auto|cpu|cuda] [--config FILE] [--cores N] ...
    audio-style-transfer --corpus DIR [-o OUT_DIR] ...

CONTENT and STYLE are audio files or directories of them: every content clip is rendered in the style of every
style clip. ``--corpus DIR`` renders every clip of DIR in the style of every other one (the pipeline's
``corpus_dir`` with ``pairs: cross``). The command writes the config of exactly that run into its working
directory (a cache, reused by the next call: same clips, same options, nothing reruns), runs the workflow's
Snakefile there, copies each rendered WAV to ``-o`` and prints where everything went.

The config is the demo ``config.yaml`` with ``--config FILE`` merged in the way ``snakemake --configfile FILE``
merges it, then the clips, pairs and flags of the command; so the outputs are those of the Snakemake run with the
same options (tested byte for byte). Like everything the Snakefile imports, this module imports no torch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS
from workflow_scripts.pipeline.corpus import clip_id_for, discover_clips
from workflow_scripts.pipeline.options import OUTPUT_FORMATS, TRANSFER_METHODS, TRIM_METHODS
from workflow_scripts.pipeline.schema_errors import first_schema_error, nearest_hint
from workflow_scripts.pipeline.settings import load_pipeline, replace_named_sets
from workflow_scripts.pipeline.vocoder_options import VOCODER_OPTIONS

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
DEMO_CONFIG = REPO / "config.yaml"
SCHEMA = REPO / "schemas/config.schema.yaml"
# The flag that picks one entry of each section, the entry picked when the config names several (the demo has
# griffinlim and hifigan; random_cnn with hifigan is the README's default pairing), and the registered types.
CHOICES: dict[str, tuple[str, str, Mapping[str, type]]] = {
    "backbones": ("--backbone", "random_cnn", BACKBONE_OPTIONS),
    "vocoders": ("--vocoder", "hifigan", VOCODER_OPTIONS),
}
RESULTS = "results"
AUDIO = RESULTS + "/audio/{vocoder}/{backbone}/{content}/{style}.wav"
ROW = RESULTS + "/metrics/{vocoder}/{backbone}/{content}/{style}.tsv"


class UsageError(Exception):
    """A command line that cannot run: shown as one line, exit status 2."""


def default_workdir() -> Path:
    """``$XDG_CACHE_HOME/audio-style-transfer`` (``~/.cache/audio-style-transfer``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "audio-style-transfer"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="audio-style-transfer",
        description="Render CONTENT in the style of STYLE with the audio style-transfer Snakemake workflow.",
        epilog="Each of CONTENT and STYLE may be a directory: every content clip is rendered in every style. "
        "Outputs, metrics and the report stay in the working directory, a cache the next call reuses.",
    )
    parser.add_argument("content", nargs="?", type=Path, help="audio file (or directory) whose content is kept")
    parser.add_argument("style", nargs="?", type=Path, help="audio file (or directory) whose style is applied")
    parser.add_argument("--corpus", type=Path, help="every clip of this directory in the style of every other one")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="the output WAV (one pair; default CONTENT_in_the_style_of_STYLE.wav) or a directory (several pairs; "
        "default ./styled)",
    )
    parser.add_argument("--backbone", help=f"a backbone of the config or a type: {', '.join(BACKBONE_OPTIONS)}")
    parser.add_argument("--vocoder", help=f"a vocoder of the config or a type: {', '.join(VOCODER_OPTIONS)}")
    parser.add_argument("--method", choices=tuple(TRANSFER_METHODS), help="transfer method (config transfer.method)")
    parser.add_argument("--vad", choices=TRIM_METHODS, help="trimming of every clip (config trim.method)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="torch device (config device)")
    parser.add_argument("--output-format", choices=tuple(OUTPUT_FORMATS), help="WAV sample format (default pcm16)")
    parser.add_argument("--config", type=Path, help="a config file merged into the demo's, as --configfile is")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores Snakemake may use")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="cache and results directory")
    parser.add_argument("--report", action="store_true", help="also build results/report.html")
    parser.add_argument("--no-metrics", action="store_true", help="render only; skip evaluation and the summary")
    args = parser.parse_args(argv)
    if args.corpus is not None and (args.content or args.style):
        parser.error("give CONTENT STYLE or --corpus DIR, not both")
    if args.corpus is None and args.style is None:
        parser.error("give CONTENT and STYLE (audio files or directories), or --corpus DIR")
    if args.report and args.no_metrics:
        parser.error("--report needs the metrics; drop --no-metrics")
    return args


def audio_clips(path: Path) -> list[tuple[Path, str]]:
    """``(file, clip id)`` of ``path``, or of every audio file under it if it is a directory."""
    if path.is_dir():
        clips = [(Path(clip.path).resolve(), clip.id) for clip in discover_clips(path)]
        if not clips:
            raise UsageError(f"{path}: no audio files in this directory")
        return clips
    if not path.is_file():
        raise UsageError(f"{path}: no such file or directory")
    return [(path.resolve(), clip_id_for(Path(path.name)))]


def pair_corpus(contents: Sequence[tuple[Path, str]], styles: Sequence[tuple[Path, str]]) -> dict[str, Any]:
    """``clips`` and explicit ``pairs``: every content with every style. A file on both sides is one clip (never
    paired with itself); two files with the same name get distinct ids (``_2``, ``_3``, ...)."""
    ids: dict[Path, str] = {}
    for path, clip_id in [*contents, *styles]:
        if path not in ids:
            unique, count = clip_id, 1
            while unique in ids.values():
                count += 1
                unique = f"{clip_id}_{count}"
            ids[path] = unique
    pairs = [
        {"content": ids[content], "style": ids[style]}
        for content, _ in contents
        for style, _ in styles
        if content != style
    ]
    if not pairs:
        raise UsageError("no (content, style) pairs: CONTENT and STYLE are the same single file")
    return {"clips": [{"id": clip_id, "path": str(path)} for path, clip_id in ids.items()], "pairs": pairs}


def pick(config: Mapping[str, Any], key: str, name: str | None) -> dict[str, Any]:
    """One entry of the config's ``backbones`` or ``vocoders`` (``key``): ``name`` (an entry, or a type with its
    default options), else the config's only entry, else the default of :data:`CHOICES`."""
    flag, default, types = CHOICES[key]
    section = config[key]
    if name is None:
        if len(section) == 1:
            return dict(section)
        if default not in section:
            raise UsageError(f"the config names several ({', '.join(section)}); choose one with {flag}")
        name = default
    if name in section:
        return {name: section[name]}
    if name in types:
        return {name: {}}
    choices = [*section, *(t for t in types if t not in section)]
    raise UsageError(f"{flag} {name}: not in the config and not a type{nearest_hint(name, choices)}; "
                     f"choose from {', '.join(choices)}")  # fmt: skip


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """The demo config, ``--config`` merged in as ``snakemake --configfile`` merges it, then the command's corpus
    and flags."""
    from snakemake.utils import update_config  # the very merge Snakemake applies to a --configfile

    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    if args.config is not None:
        if not args.config.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        user = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        update_config(config, user)
        replace_named_sets(config, user)
    if args.corpus is not None:
        if not args.corpus.is_dir():
            raise UsageError(f"--corpus {args.corpus}: not a directory")
        corpus: dict[str, Any] = {"corpus_dir": str(args.corpus.resolve()), "pairs": "cross"}
    else:
        corpus = pair_corpus(audio_clips(args.content), audio_clips(args.style))
    replace_named_sets(config, corpus)
    config["backbones"] = pick(config, "backbones", args.backbone)
    config["vocoders"] = pick(config, "vocoders", args.vocoder)
    for section, key, value in (("transfer", "method", args.method), ("trim", "method", args.vad)):
        if value is not None:
            config[section] = {**(config.get(section) or {}), key: value}
    for key, value in (("device", args.device), ("output_format", args.output_format)):
        if value is not None:
            config[key] = value
    return config


def planned_pairs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (content, style) pairs the workflow will render for ``config``, checked as the workflow checks it."""
    problem = first_schema_error(config, yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    if problem is not None:
        raise UsageError(problem)
    return list(load_pipeline(config).pairs)


def snakemake_command(workdir: Path, cores: int, targets: Sequence[str], keep_going: bool) -> list[str]:
    return [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(SNAKEFILE),
        "--directory", str(workdir),
        "--cores", str(cores),
        *(["--keep-going"] if keep_going else []),
        *targets,
    ]  # fmt: skip


def copy_outputs(rendered: Mapping[tuple[str, str], Path], output: Path | None) -> dict[tuple[str, str], Path]:
    """Copy each rendered WAV that exists to ``output``: a file for one pair (unless it is a directory), else a
    directory that receives ``CONTENT_in_the_style_of_STYLE.wav`` each."""
    copies = {}
    for (content, style), source in rendered.items():
        name = f"{content}_in_the_style_of_{style}.wav"
        if len(rendered) == 1 and (output is None or not output.is_dir()):
            target = output or Path(name)
        else:
            target = (output or Path("styled")) / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copies[(content, style)] = target.resolve()
    return copies


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = run_config(args)
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        pairs = planned_pairs(config)
    except (UsageError, ValueError) as error:  # ValueError: ConfigError of the config check
        print(f"audio-style-transfer: {error}", file=sys.stderr)
        return 2
    (backbone,), (vocoder,) = config["backbones"], config["vocoders"]
    keys = [{"vocoder": vocoder, "backbone": backbone, "content": c, "style": s} for c, s in pairs]
    targets = [AUDIO.format(**k) for k in keys] if args.no_metrics else ["all"]
    targets += [f"{RESULTS}/report.html"] if args.report else []
    process = subprocess.run(snakemake_command(workdir, args.cores, targets, keep_going=len(pairs) > 1))

    results = workdir / RESULTS
    copies = copy_outputs({(k["content"], k["style"]): workdir / AUDIO.format(**k) for k in keys}, args.output)
    for (content, style), path in copies.items():
        print(f"output:   {path}  ({content} in the style of {style})")
    if not args.no_metrics and (results / "metrics.tsv").is_file():
        rows = [workdir / ROW.format(**k) for k in keys if (k["content"], k["style"]) in copies]
        print(f"metrics:  {results / 'metrics.tsv'}" + (f"  (this output's row: {rows[0]})" if len(rows) == 1 else ""))
        print(f"plot:     {results / 'plots/summary.png'}")
    if args.report and (results / "report.html").is_file():
        print(f"report:   {results / 'report.html'}")
    print(f"results:  {results}")
    print(f"config:   {config_path}  (rerun: snakemake --snakefile {SNAKEFILE} --directory {workdir})")
    if process.returncode != 0:
        print(
            f"the workflow failed: {len(copies)} of {len(pairs)} output(s) rendered; why: {results / 'failures.tsv'}",
            file=sys.stderr,
        )
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
