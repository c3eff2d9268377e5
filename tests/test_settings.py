import dataclasses
import re
import typing

import numpy as np
import pytest
from conftest import REPO, harmonic, tiny_config, write_wav

from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS
from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.options import NormaliseSettings, RuntimeSettings, TransferOptions, TrimSettings
from workflow_scripts.pipeline.ranges import Range, field_range
from workflow_scripts.pipeline.settings import load_pipeline
from workflow_scripts.pipeline.vocoder_options import VOCODER_OPTIONS


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("audio/tone.wav", "audio/chirp.wav", "audio/noise.wav"):
        write_wav(tmp_path / name, harmonic(0.3, 16000), 16000)
    return tmp_path


def test_cross_pairs_follow_roles(corpus):
    pipeline = load_pipeline(tiny_config())
    assert pipeline.pairs == (("tone", "chirp"), ("tone", "noise"))
    assert pipeline.conventions == ("hifigan",)
    assert pipeline.backbones["random_cnn"].params() == {
        "type": "random_cnn", "content_weight": 1.0, "style_weight": 3.0, "weights": "random", "seed": 0,
        "filters": 64, "width": 5, "widths": [],
    }  # fmt: skip


def test_explicit_pairs_are_deduplicated_and_may_repeat_a_clip(corpus):
    pairs = [{"content": "tone", "style": "chirp"}, {"content": "tone", "style": "chirp"},
             {"content": "tone", "style": "tone"}]  # fmt: skip
    assert load_pipeline(tiny_config(pairs=pairs)).pairs == (("tone", "chirp"), ("tone", "tone"))


def test_per_clip_vad_overrides_corpus_method(corpus):
    pipeline = load_pipeline(tiny_config())
    assert pipeline.trim_settings("noise").method == "none"
    assert pipeline.trim_settings("tone").method == "energy"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"backbones": {"vgg": {}}}, "backbones.vgg: unknown type 'vgg' (did you mean 'vgg19'?); known: random_cnn"),
        (
            {"backbones": {"random_cnn": {"filter": 3}}},
            "backbones.random_cnn: unknown option 'filter' (did you mean 'filters'?); known: ",
        ),
        (
            {"backbones": {"random_cnn": {"filters": "many"}}},
            "random_cnn.filters: expected int, got str 'many'",
        ),
        (
            {"backbones": {"random_cnn": {"widths": [3, "wide"]}}},
            "random_cnn.widths: expected list[int], got list [3, 'wide']",
        ),
        ({"backbones": {"random_cnn": {"widths": [4]}}}, "random_cnn: kernel width 4 must be odd (it keeps"),
        ({"backbones": {"random_cnn": {"width": 5, "widths": [3, 5]}}}, "random_cnn.widths: [3, 5] repeats a width"),
        ({"vocoders": {"gl": {"type": "griffinlim", "convention": "lj"}}}, "unknown convention 'lj'"),
        ({"vocoders": {"melgan": {}}}, "vocoders.melgan: unknown type 'melgan'; known: griffinlim"),
        ({"pairs": [{"content": "tone", "style": "missing"}]}, "pairs: unknown style clip 'missing'"),
        (
            {"transfer": {"iters": 3}},
            "transfer: unknown option 'iters' (did you mean 'iterations'?); known: k, max_shift, ",
        ),
        ({"backbones": {"random_cnn": {"weights": "w.pt"}}}, "random_cnn.weights: file not found: w.pt"),
        ({"clips": [{"id": "x", "path": "nowhere.wav"}]}, "clip 'x': audio file not found: nowhere.wav"),
        ({"clips": [{"id": "x", "synth": "violin"}]}, "clip 'x': unknown synth 'violin'"),
        ({"clips": [{"id": "a", "synth": "bowed_tone", "role": "style"}]}, "no (content, style) pairs"),
        (
            {"clips": [{"id": "a", "synth": "bowed_tone"}, {"id": "a", "synth": "plucked_melody"}]},
            "clip id 'a' appears twice",
        ),
    ],
)
def test_config_errors_are_one_clear_line(corpus, change, message):
    with pytest.raises(ConfigError) as error:
        load_pipeline(tiny_config(**change))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_sample_sheet_paths_are_relative_to_the_sheet(corpus):
    (corpus / "audio/sheet.tsv").write_text("path\tvad\trole\ntone.wav\tenergy\tcontent\nchirp.wav\t\tstyle\n")
    pipeline = load_pipeline(tiny_config(clips=[], sample_sheet="audio/sheet.tsv"))
    assert list(pipeline.clips) == ["tone", "chirp"]
    assert pipeline.clips["tone"].path == "audio/tone.wav" and pipeline.clips["tone"].vad == "energy"
    assert pipeline.pairs == (("tone", "chirp"),)


def test_sample_sheet_rejects_bad_rows(corpus):
    (corpus / "sheet.tsv").write_text("path\tvad\naudio/tone.wav\tloud\n")
    with pytest.raises(ConfigError, match=r"sheet.tsv:2: vad must be webrtcvad, energy or none, not 'loud'"):
        load_pipeline(tiny_config(clips=[], sample_sheet="sheet.tsv"))


def test_sample_sheet_ids_have_no_slash(corpus):
    (corpus / "sheet.tsv").write_text("path\tid\naudio/tone.wav\tvoices/tone\n")
    with pytest.raises(ConfigError, match=r"sheet.tsv:2: id must not contain '/', not 'voices/tone'"):
        load_pipeline(tiny_config(clips=[], sample_sheet="sheet.tsv"))


def test_corpus_dir_discovers_audio_with_safe_ids(corpus):
    write_wav(corpus / "audio/sub dir/voix élevée.flac", harmonic(0.3, 16000), 16000, subtype="PCM_16")
    (corpus / "audio/readme.txt").write_text("not audio")
    pipeline = load_pipeline(tiny_config(clips=[], corpus_dir="audio"))
    assert sorted(pipeline.clips) == ["chirp", "noise", "sub_dir_voix_élevée", "tone"]
    assert len(pipeline.pairs) == 4 * 3
    assert np.all([" " not in c for c in pipeline.clips])


def test_knn_match_path_and_voice_envelope_options_reach_the_transfer_options(corpus):
    transfer = load_pipeline(tiny_config(transfer={"transition": 1, "voice_db": 6})).transfer
    assert (transfer.transition, transfer.voice_db) == (1.0, 6.0)
    default = load_pipeline(tiny_config()).transfer
    assert (default.transition, default.voice_db) == (0.0, 0.0)  # off unless asked for


# Every options dataclass a config section is parsed into, by the section's key path (a backbone or vocoder entry
# by its registered type), so that a new option with a range, or a new registered type, is covered here.
OPTION_SECTIONS = {"trim": TrimSettings, "normalise": NormaliseSettings, "transfer": TransferOptions,
                   "": RuntimeSettings, **{f"backbones.{kind}": cls for kind, cls in BACKBONE_OPTIONS.items()},
                   **{f"vocoders.{kind}": cls for kind, cls in VOCODER_OPTIONS.items()}}  # fmt: skip
RANGED = [(section, field, field_range(field)) for section, cls in OPTION_SECTIONS.items()
          for field in dataclasses.fields(cls) if field_range(field)]  # fmt: skip


def outside(allowed: Range, hint: type) -> list[float]:
    """Values just outside each bound of ``allowed``, of the field's number type."""
    step = 1 if hint is int else 0.5
    below = [] if allowed.minimum is None else [allowed.minimum if allowed.exclusive else allowed.minimum - step]
    return below + ([] if allowed.maximum is None else [allowed.maximum + step])


def with_option(section: str, key: str, value) -> dict:
    """The tiny config with ``section.key`` set to ``value`` (a backbone or vocoder entry of that type only)."""
    if not section:
        return tiny_config(**{key: value})
    head, _, kind = section.partition(".")
    if kind:
        return tiny_config(**{head: {kind: {key: value}}})
    return tiny_config(**{head: {**tiny_config().get(head, {}), key: value}})


@pytest.mark.parametrize(("section", "field", "allowed"), RANGED, ids=[f"{s}.{f.name}" for s, f, _ in RANGED])
def test_every_ranged_option_rejects_a_value_outside_its_range_in_one_line(corpus, section, field, allowed):
    hint = typing.get_type_hints(OPTION_SECTIONS[section])[field.name]
    origin = typing.get_origin(hint)  # list or dict of numbers: each element is checked
    path = f"{section}.{field.name}" if section else field.name
    for bad in outside(allowed, typing.get_args(hint)[-1] if origin else hint):
        value, where = {list: ([bad], f"{path}[0]"), dict: ({"any": bad}, f"{path}.any")}.get(origin, (bad, path))
        with pytest.raises(ConfigError) as error:
            load_pipeline(with_option(section, field.name, value))
        assert str(error.value) == f"config: {where}: {bad!r} is not allowed; allowed: {allowed}"
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    defaults = default.values() if isinstance(default, dict) else default if isinstance(default, list) else [default]
    assert all(allowed.allows(number) for number in defaults)  # the defaults lie inside


def test_a_range_reads_as_what_is_allowed():
    assert str(field_range(TransferOptions.__dataclass_fields__["window_frames"])) == (
        "0 or >= 128 (twice the 64 cross-faded frames; 0: off)"
    )
    assert [str(Range(minimum=0, maximum=1)), str(Range(minimum=0, exclusive=True)), str(Range(maximum=0))] == [
        "0 .. 1", "> 0", "<= 0"
    ]  # fmt: skip
    assert Range(minimum=128, also=(0,)).allows(0) and not Range(minimum=128, also=(0,)).allows(64)


@pytest.mark.parametrize("cls", dict.fromkeys(OPTION_SECTIONS.values()), ids=lambda cls: cls.__name__)
def test_a_subclass_that_changes_a_default_keeps_the_range(cls):
    """A field declared again (a new default) without ``ranged`` would drop its base class's range."""
    ranged_in_bases = {f.name for base in cls.__mro__[1:] if dataclasses.is_dataclass(base)
                       for f in dataclasses.fields(base) if field_range(f)}  # fmt: skip
    assert [f.name for f in dataclasses.fields(cls) if f.name in ranged_in_bases and not field_range(f)] == []


def test_the_schema_declares_no_numeric_ranges():
    """Ranges live on the options dataclasses only (one place); the schema checks keys, types and choices."""
    schema = (REPO / "schemas/config.schema.yaml").read_text()
    assert re.findall(r"\b(minimum|maximum|exclusiveMinimum|exclusiveMaximum|multipleOf)\b", schema) == []
