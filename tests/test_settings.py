import numpy as np
import pytest
from conftest import harmonic, tiny_config, write_wav

from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.settings import load_pipeline


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
        ({"backbones": {"random_cnn": {"widths": [4]}}}, "random_cnn: kernel width 4 must be odd and positive"),
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
