"""Pipeline configuration: clips, pairs and the configured backbones and vocoders.

``config.yaml`` is first validated for structure by Snakemake against ``schemas/config.schema.yaml``;
:func:`load_pipeline` then checks what a static schema cannot (registry names, each component's options,
that audio files exist, that pairs name known clips) and raises :class:`ConfigError` with one clear message.
Like everything the Snakefile imports, this module and its imports are light (no torch, torchvision or librosa):
the options and names it checks against are in :mod:`workflow_scripts.pipeline.options`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS, BackboneOptions
from workflow_scripts.pipeline.corpus import Clip, collect_clips, pairs_of
from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.options import (
    TRANSFER_METHODS,
    NormaliseSettings,
    RuntimeSettings,
    TransferOptions,
    TrimSettings,
)
from workflow_scripts.pipeline.ranges import field_range, out_of_range
from workflow_scripts.pipeline.schema_errors import nearest_hint
from workflow_scripts.pipeline.vocoder_options import VOCODER_OPTIONS, VocoderOptions

# transfer.batch_pairs when the config says ``auto`` (its default) and the jobs will run on a GPU: problems
# optimised at a time in one job per style (docs/gpu.md, Batching pairs). 16 random-CNN or VGG problems of 10 s
# fit in a fraction of a 80 GB GPU's memory.
GPU_BATCH_PAIRS = 16
# Backbones whose objective is faster in bfloat16 than in float32 on a GPU (H200, docs/gpu.md): where it is not,
# a config whose jobs run on a GPU does not offer it (on the CPU, with AVX512-BF16, it was faster for every one).
BFLOAT16_BACKBONES = ("vgg19",)
# Where the NVIDIA driver lists the GPUs it sees (one directory per GPU).
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")

# Where a config lists its clips. A config given on the command line that names one of them brings its own corpus.
CORPUS_KEYS = ("clips", "sample_sheet", "corpus_dir")


@dataclass(frozen=True)
class Component:
    """A configured backbone or vocoder: its config name, registered type and parsed options."""

    name: str
    kind: str
    options: BackboneOptions | VocoderOptions

    def params(self) -> dict[str, Any]:
        """Everything that determines this component's outputs (Snakemake ``params``, a rerun trigger)."""
        return {"type": self.kind, **dataclasses.asdict(self.options)}


@dataclass(frozen=True)
class Pipeline:
    clips: dict[str, Clip]
    pairs: tuple[tuple[str, str], ...]
    backbones: dict[str, Component]
    vocoders: dict[str, Component]
    trim: TrimSettings
    transfer: TransferOptions
    normalise: NormaliseSettings
    runtime: RuntimeSettings
    # sample format of the rendered WAVs (OUTPUT_FORMATS)
    output_format: str

    @property
    def conventions(self) -> tuple[str, ...]:
        """Mel conventions in use: those of the configured vocoders."""
        return tuple(sorted({v.options.convention for v in self.vocoders.values()}))

    @property
    def pair_clips(self) -> tuple[str, ...]:
        """Clips that take part in at least one pair, in clip order."""
        used = {clip for pair in self.pairs for clip in pair}
        return tuple(c for c in self.clips if c in used)

    def trim_settings(self, clip_id: str) -> TrimSettings:
        clip = self.clips[clip_id]
        return dataclasses.replace(self.trim, method=clip.vad) if clip.vad else self.trim

    def clip_kind(self, clip_id: str) -> str:
        """``speech`` or ``music``: the clip's own ``kind``, else speech exactly when it is trimmed with webrtcvad."""
        clip = self.clips[clip_id]
        if clip.kind:
            return clip.kind
        return "speech" if self.trim_settings(clip_id).method == "webrtcvad" else "music"


def replace_named_sets(config: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Let the sets a user's config names replace the workflow's, in place, instead of joining them.

    Snakemake merges a ``--configfile`` (or ``--config``) into the workflow's ``config.yaml`` key by key, so the
    demo's clips would join a user's ``corpus_dir`` and the demo's backbones and vocoders a user's. Here a user
    config that names its corpus (any of :data:`CORPUS_KEYS`) replaces the whole corpus and the pairs; one that
    names ``backbones`` or ``vocoders`` replaces that section. Option sections (``trim``, ``transfer``, ...) still
    merge key by key.

    Args:
        config: the merged config (Snakemake's ``config``), changed in place.
        overrides: what the command line gave (Snakemake's ``config_settings.overwrite_config``).
    """
    if any(key in overrides for key in CORPUS_KEYS):
        for key in (*CORPUS_KEYS, "pairs"):
            config.pop(key, None)
            if key in overrides:
                config[key] = copy.deepcopy(overrides[key])
    for key in ("backbones", "vocoders"):
        if key in overrides:
            config[key] = copy.deepcopy(overrides[key])


def load_pipeline(config: Mapping[str, Any]) -> Pipeline:
    """Build the :class:`Pipeline` from a schema-validated config mapping; raise :class:`ConfigError`."""
    clips = collect_clips(config)
    if not clips:
        raise ConfigError("config: no clips; list them under clips, sample_sheet or corpus_dir")
    pipeline = Pipeline(
        clips=clips,
        pairs=pairs_of(config.get("pairs", "cross"), clips),
        backbones=_components(config["backbones"], BACKBONE_OPTIONS, "backbones"),
        vocoders=_components(config["vocoders"], VOCODER_OPTIONS, "vocoders"),
        trim=parse_options(TrimSettings, config.get("trim") or {}, "trim"),
        transfer=parse_options(TransferOptions, _transfer_options(config), "transfer"),
        normalise=parse_options(NormaliseSettings, config.get("normalise") or {}, "normalise"),
        runtime=parse_options(RuntimeSettings, _top_level(config, RuntimeSettings), ""),
        output_format=config.get("output_format", "pcm16"),
    )
    check_choice(pipeline.transfer.method, TRANSFER_METHODS, "transfer.method")
    slower = sorted({c.kind for c in pipeline.backbones.values()} - set(BFLOAT16_BACKBONES))
    if pipeline.transfer.precision == "bfloat16" and slower and gpu_jobs(pipeline.runtime.device):
        raise ConfigError(
            f"config: transfer.precision: bfloat16 is offered on a GPU for {', '.join(BFLOAT16_BACKBONES)} only "
            f"(measured slower than float32 there for {', '.join(slower)}; docs/gpu.md); use float32"
        )
    return pipeline


def check_choice(value: str, choices: Iterable[str], where: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices`` (names registered in the code rather than
    listed in the schema), in the schema's one-line form with the nearest choice."""
    choices = list(choices)
    if value not in choices:
        hint = nearest_hint(value, choices)
        raise ConfigError(f"config: {where}: {value!r} is not allowed{hint}; allowed: {', '.join(choices)}")


def _transfer_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``transfer`` mapping with ``batch_pairs: auto`` (the default) resolved to a number of problems."""
    transfer = dict(config.get("transfer") or {})
    if transfer.get("batch_pairs", "auto") == "auto":
        transfer["batch_pairs"] = GPU_BATCH_PAIRS if gpu_jobs(config.get("device", "auto")) else 0
    return transfer


def gpu_jobs(device: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether jobs with config ``device`` will run on a GPU, judged without importing torch (the Snakefile stays
    light): ``cuda``, or ``auto`` where the NVIDIA driver lists a GPU and ``CUDA_VISIBLE_DEVICES`` does not hide
    them all. Where the workflow is planned on a machine other than the one its jobs run on (a cluster's login
    node), set ``transfer.batch_pairs`` explicitly."""
    if device != "auto":
        return device == "cuda"
    visible = (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return NVIDIA_GPUS.is_dir() and any(NVIDIA_GPUS.iterdir())


def _top_level(config: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """The top-level keys of ``config`` that are fields of options dataclass ``cls``."""
    return {f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config}


def parse_options(cls: type, mapping: Mapping[str, Any], where: str) -> Any:
    """Instantiate options dataclass ``cls`` from ``mapping``, rejecting unknown keys, wrong types and values
    outside a field's declared range (:mod:`workflow_scripts.pipeline.ranges`; every range check is here);
    ``where`` is the section's key path (empty for top-level keys)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        renamed = getattr(cls, "renamed", {})
        hint = (
            f" (renamed {renamed[unknown[0]]!r})" if unknown[0] in renamed else nearest_hint(unknown[0], list(fields))
        )
        raise ConfigError(f"config: {where}: unknown option {unknown[0]!r}{hint}; known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in mapping.items():
        path = f"{where}.{key}" if where else key
        if not _matches(value, hints[key]):
            expected = _type_name(hints[key])
            raise ConfigError(f"config: {path}: expected {expected}, got {type(value).__name__} {value!r}")
        values[key] = _convert(value, hints[key])
        allowed = field_range(fields[key])
        problem = allowed and out_of_range(value, allowed, path)  # the value as written
        if problem:
            raise ConfigError(problem)
    return cls(**values)


def _matches(value: Any, hint: Any) -> bool:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typing.get_origin(hint) is list:
        return isinstance(value, list) and all(_matches(v, typing.get_args(hint)[0]) for v in value)
    if typing.get_origin(hint) is dict:
        key_hint, value_hint = typing.get_args(hint)
        items = value.items() if isinstance(value, dict) else ()
        return isinstance(value, dict) and all(_matches(k, key_hint) and _matches(v, value_hint) for k, v in items)
    return isinstance(value, typing.get_origin(hint) or hint)


def _convert(value: Any, hint: Any) -> Any:
    """YAML integers where floats are expected become floats (so params, a rerun trigger, do not depend on spelling)."""
    if hint is float:
        return float(value)
    if typing.get_origin(hint) is dict:
        return {k: _convert(v, typing.get_args(hint)[1]) for k, v in value.items()}
    return value


def _type_name(hint: Any) -> str:
    return str(hint) if typing.get_origin(hint) else getattr(hint, "__name__", str(hint))


def _components(
    section: Mapping[str, Any], registry: Mapping[str, type[BackboneOptions | VocoderOptions]], where: str
) -> dict[str, Component]:
    components = {}
    for name, entry in section.items():
        entry = dict(entry or {})
        kind = entry.pop("type", name)
        if kind not in registry:
            known = sorted(registry)
            hint = nearest_hint(kind, known)
            raise ConfigError(f"config: {where}.{name}: unknown type {kind!r}{hint}; known: {', '.join(known)}")
        options = parse_options(registry[kind], entry, f"{where}.{name}")
        options.check(f"{where}.{name}")
        components[name] = Component(name, kind, options)
    return components
