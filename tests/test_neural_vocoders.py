"""HiFi-GAN and WaveNet vocoders: conventions, checkpoint loading, fast WaveNet generation."""

import dataclasses

import numpy as np
import pytest
import torch
import wavenet_vocoder.wavenet
from conftest import harmonic, silence

from workflow_scripts.audio.conventions import HIFIGAN, WAVENET, MelConvention
from workflow_scripts.metrics.metrics import decibels, log_mel_error_db
from workflow_scripts.pipeline.errors import ConfigError, InputError
from workflow_scripts.pipeline.settings import load_pipeline
from workflow_scripts.vocoders.chunking import plan_chunks
from workflow_scripts.vocoders.hifigan import Generator, bundled_config, fold_weight_norm, load_generator
from workflow_scripts.vocoders.registry import VOCODERS, HiFiGAN, WaveNetVocoder
from workflow_scripts.vocoders.wavenet import LOG_SCALE_MIN, FastWaveNet, render
from workflow_scripts.vocoders.wavenet_checkpoint import build_wavenet, load_wavenet

# --- HiFi-GAN ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hifigan(device) -> HiFiGAN:
    return HiFiGAN(HiFiGAN.Options(), device)


@pytest.fixture(scope="module")
def melody() -> np.ndarray:
    """Three gliding notes separated by rests: a hop or frame-rate error misplaces them in time."""
    notes = [np.concatenate([harmonic(0.2, 22050, f0=f0, vibrato=0.03), silence(0.08, 22050)]) for f0 in (140, 210)]
    return np.concatenate([*notes, harmonic(0.2, 22050, f0=170, vibrato=0.03)])


def round_trip_error(vocoder: HiFiGAN, features: np.ndarray, reference: np.ndarray) -> float:
    return log_mel_error_db(vocoder(features, progress=False), reference, HIFIGAN)


# dB. Measured here: right convention 3.5 (Griffin-Lim 2.1); fmax 11025 7.7, hop 300 13.8, log10 19.6
ROUND_TRIP_BOUND = 4.5
WRONG_CONVENTION_MINIMUM = 6.5


def test_hifigan_round_trip_meets_the_bound_and_renders_frames_times_hop(hifigan, melody):
    features = HIFIGAN.features(melody)
    audio = hifigan(features, progress=False)
    assert audio.dtype == np.float32 and audio.shape == (features.shape[1] * HIFIGAN.hop_length,)
    assert round_trip_error(hifigan, features, features) < ROUND_TRIP_BOUND


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda a: HIFIGAN.features(a) / np.log(10), id="log10-instead-of-ln"),
        pytest.param(lambda a: dataclasses.replace(HIFIGAN, fmax=11025.0).features(a), id="fmax-11025"),
        pytest.param(lambda a: dataclasses.replace(HIFIGAN, hop_length=300).features(a), id="hop-300"),
    ],
)
def test_hifigan_round_trip_catches_a_wrong_convention(hifigan, melody, wrong):
    error = round_trip_error(hifigan, wrong(melody), HIFIGAN.features(melody))
    assert error > WRONG_CONVENTION_MINIMUM


def test_context_frames_is_the_generator_receptive_half_width():
    torch.manual_seed(0)
    generator = Generator(bundled_config()).eval()
    mel = torch.randn(1, 80, 41, requires_grad=True)
    audio = generator(mel)[0, 0]
    centre, hop = 20, HIFIGAN.hop_length
    reach = 0
    for sample in (centre * hop, centre * hop + hop // 2, (centre + 1) * hop - 1):  # first, middle, last of a frame
        (grad,) = torch.autograd.grad(audio[sample], mel, retain_graph=True)
        used = grad[0].abs().sum(0).nonzero().flatten()
        reach = max(reach, centre - int(used.min()), int(used.max()) - centre)
    assert generator.context_frames() == reach == 13


def chunked_rendering(features: np.ndarray, chunk_frames: int, context_frames: int | None = None) -> np.ndarray:
    vocoder = HiFiGAN(HiFiGAN.Options(chunk_frames=chunk_frames))
    if context_frames is not None:
        vocoder.context_frames = context_frames
    return vocoder(features, progress=False)


def mel_difference_db(audio: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and largest absolute difference (dB) between the log-mels of two renderings, over the reference's bins
    within 80 dB of its peak."""
    ours, theirs = (decibels(HIFIGAN.features(a), HIFIGAN) for a in (audio, reference))
    audible = theirs > theirs.max() - 80.0
    difference = np.abs(ours - theirs)[audible]
    return float(difference.mean()), float(difference.max())


def seam_click_ratios(audio: np.ndarray, reference: np.ndarray, chunk_frames: int) -> np.ndarray:
    """Energy of the sample-to-sample difference (a high-pass) in 64 samples around each seam, relative to the same
    energy of the unchunked ``reference`` there; a click at a seam raises it, a dip lowers it."""
    chunks, _ = plan_chunks(len(reference) // HIFIGAN.hop_length, chunk_frames, HiFiGAN.Options().fade_frames)
    ratios = []
    for chunk in chunks[1:]:
        seam = chunk.scaled(HIFIGAN.hop_length)
        window = slice(seam.keep + seam.fade // 2 - 32, seam.keep + seam.fade // 2 + 32)
        ratios.append(np.square(np.diff(audio[window])).sum() / np.square(np.diff(reference[window])).sum())
    return np.array(ratios)


# Chunked against whole-clip HiFi-GAN (synthetic notes; measured on the 20 s clip with 200-frame chunks): mean
# log-mel difference 2e-5 dB, largest 0.004 dB, seam click ratios 1 +- 2e-5, samples within 2e-5. With half the
# receptive field as context: 0.06 dB, 21 dB, ratios 0.31-1.90, samples 0.55 apart.
MEAN_MEL_TOLERANCE_DB = 1e-3
MAX_MEL_TOLERANCE_DB = 0.05
SEAM_CLICK_TOLERANCE = 0.01


def assert_chunking_is_invisible(features: np.ndarray, chunk_frames: int) -> None:
    whole = chunked_rendering(features, chunk_frames=features.shape[1])
    chunked = chunked_rendering(features, chunk_frames)
    assert chunked.dtype == np.float32 and chunked.shape == whole.shape == (features.shape[1] * HIFIGAN.hop_length,)
    mean_db, max_db = mel_difference_db(chunked, whole)
    assert mean_db < MEAN_MEL_TOLERANCE_DB and max_db < MAX_MEL_TOLERANCE_DB
    ratios = seam_click_ratios(chunked, whole, chunk_frames)
    assert len(ratios) >= 3 and np.abs(ratios - 1).max() < SEAM_CLICK_TOLERANCE


def test_chunked_hifigan_matches_the_whole_clip_rendering(melody):
    assert_chunking_is_invisible(HIFIGAN.features(melody), chunk_frames=16)


def test_the_chunking_check_catches_too_little_context(melody):
    features = HIFIGAN.features(melody)
    whole = chunked_rendering(features, chunk_frames=features.shape[1])
    chunked = chunked_rendering(features, chunk_frames=16, context_frames=6)
    assert mel_difference_db(chunked, whole)[1] > 10 * MAX_MEL_TOLERANCE_DB
    assert np.abs(seam_click_ratios(chunked, whole, 16) - 1).max() > 10 * SEAM_CLICK_TOLERANCE


@pytest.mark.slow
def test_chunked_hifigan_matches_the_whole_clip_rendering_on_20_seconds():
    rng = np.random.default_rng(0)
    notes, seconds = [], 0.0
    while seconds < 20.0:  # random notes with vibrato and short rests
        length, rest = rng.uniform(0.2, 0.6), rng.uniform(0.02, 0.15)
        notes += [harmonic(length, 22050, f0=rng.uniform(100, 300), vibrato=0.03), silence(rest, 22050)]
        seconds += length + rest
    features = HIFIGAN.features(np.concatenate(notes)[: 20 * 22050])
    assert_chunking_is_invisible(features, chunk_frames=200)


def test_fold_weight_norm_matches_torch_weight_norm():
    conv = torch.nn.utils.weight_norm(torch.nn.ConvTranspose1d(8, 4, 5, 2))
    plain = torch.nn.ConvTranspose1d(8, 4, 5, 2)
    plain.load_state_dict(fold_weight_norm(conv.state_dict()))
    x = torch.randn(1, 8, 20)
    torch.testing.assert_close(plain(x), conv(x))


def test_user_checkpoint_in_jik876_layout_loads(tmp_path):
    torch.manual_seed(0)
    source = Generator(bundled_config()).eval()
    torch.save({"generator": source.state_dict(), "steps": 1}, tmp_path / "g_00000001")
    loaded = load_generator(str(tmp_path / "g_00000001"))
    mel = torch.randn(1, 80, 4)
    torch.testing.assert_close(loaded(mel), source(mel))


def test_bundled_lj_checkpoint_loads_and_renders():
    generator = load_generator("lj")
    assert generator(torch.full((1, 80, 3), -5.0)).shape == (1, 1, 3 * HIFIGAN.hop_length)


def test_unreadable_hifigan_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "g.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match=r"g\.pt: cannot read HiFi-GAN checkpoint"):
        load_generator(str(tmp_path / "g.pt"))


# --- WaveNet -------------------------------------------------------------------------------------------------

SMALL = {"layers": 6, "stacks": 2, "residual_channels": 32, "gate_channels": 32, "skip_out_channels": 16}


def small_wavenet(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_wavenet(**{**SMALL, **overrides})


def test_r9y9_preset_has_the_20180510_receptive_field():
    model = build_wavenet()
    assert model.receptive_field == 505 and len(model.conv_layers) == 24


@pytest.mark.parametrize("legacy", [True, False])
def test_fast_path_matches_incremental_forward_teacher_forced(monkeypatch, legacy, device):
    model = small_wavenet(legacy=legacy)
    model.make_generation_fast_()
    model.eval()
    frames = 3
    conditioning = torch.rand(2, 80, frames)
    inputs = torch.rand(2, 1, frames * 256) * 2 - 1
    # incremental_forward returns samples; record the distribution parameters it samples from
    captured = []
    sample = wavenet_vocoder.wavenet.sample_from_discretized_mix_logistic

    def record(params, log_scale_min):
        captured.append(params.clone())
        return sample(params, log_scale_min=log_scale_min)

    monkeypatch.setattr(wavenet_vocoder.wavenet, "sample_from_discretized_mix_logistic", record)
    with torch.no_grad():
        model.incremental_forward(c=conditioning, test_inputs=inputs, T=None, log_scale_min=LOG_SCALE_MIN)
    reference = torch.cat(captured, dim=2)

    fast = FastWaveNet(model.to(device))
    ours = fast.distribution(inputs[:, 0].to(device), fast.upsample(conditioning.to(device)))
    assert ours.shape == reference.shape == (2, 30, frames * 256) and ours.device.type == device.type
    torch.testing.assert_close(ours.cpu(), reference, rtol=1e-5, atol=1e-5)


def test_bfloat16_fast_path_stays_close_to_float32(device):
    model = small_wavenet()
    model.make_generation_fast_()
    model.eval().to(device)
    inputs, conditioning = (torch.rand(1, 512) * 2 - 1).to(device), torch.rand(1, 80, 2, device=device)
    exact, rounded = FastWaveNet(model), FastWaveNet(model, torch.bfloat16)
    reference = exact.distribution(inputs, exact.upsample(conditioning))
    error = (rounded.distribution(inputs, rounded.upsample(conditioning)) - reference).abs().max()
    assert float(error / reference.abs().max()) < 0.05


def test_wavenet_audio_does_not_depend_on_how_many_chunks_run_at_once(monkeypatch):
    model = small_wavenet()
    model.make_generation_fast_()
    fast = FastWaveNet(model.eval())
    features = torch.rand(80, 20)
    rows_at_once = []
    generate = fast.generate
    monkeypatch.setattr(
        fast, "generate", lambda rows, *a, **k: rows_at_once.append(len(rows)) or generate(rows, *a, **k)
    )
    together = render(fast, features, chunk=256, fade=32, seed=3, batch=1000)
    assert together.shape == (20 * WAVENET.hop_length,) and rows_at_once == [20]
    for batch in (3, 1):
        rows_at_once.clear()
        grouped = render(fast, features, chunk=256, fade=32, seed=3, batch=batch)
        assert max(rows_at_once) == batch and sum(rows_at_once) == 20
        # the same audio up to the rounding of products of another batch size (measured 4e-7)
        torch.testing.assert_close(grouped, together, rtol=0, atol=1e-4)
    assert not torch.allclose(render(fast, features, chunk=256, fade=32, seed=4, batch=3), together, atol=0.1)


@pytest.mark.parametrize("start, stop", [(0, 5120), (300, 2000), (256, 512), (4000, 5120), (1, 2)])
def test_conditioning_of_a_span_is_that_span_of_the_whole(start, stop):
    fast = FastWaveNet(small_wavenet().eval())
    features = torch.rand(80, 20)
    whole = fast.upsample(features[None])[0]
    torch.testing.assert_close(fast.upsample_span(features, start, stop), whole[:, start:stop])


def save_small_checkpoint(path, layout: str, seed: int = 0, **overrides):
    model = small_wavenet(seed, **overrides)
    state = model.state_dict()
    torch.save({"state_dict": state, "global_step": 320000} if layout == "r9y9" else state, path)
    return model


@pytest.mark.parametrize("layout", ["r9y9", "bare"])
def test_loader_accepts_r9y9_and_bare_state_dicts(tmp_path, layout, device):
    source = save_small_checkpoint(tmp_path / "w.pth", layout)
    source.make_generation_fast_()
    source.eval()
    loaded = load_wavenet(tmp_path / "w.pth", device, **SMALL)
    assert next(loaded.parameters()).device.type == device.type
    x, c = torch.rand(1, 1, 512) * 2 - 1, torch.rand(1, 80, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x.to(device), c.to(device)).cpu(), source(x, c))


def test_checkpoint_of_another_architecture_is_a_clear_error(tmp_path):
    save_small_checkpoint(tmp_path / "w.pth", "r9y9")
    with pytest.raises(InputError, match=r"w\.pth: weights do not fit r9y9's 20180510 WaveNet"):
        load_wavenet(tmp_path / "w.pth")


def test_missing_wavenet_checkpoint_fails_at_config_time(tmp_path):
    config = {
        "clips": [{"id": "a", "synth": "plucked_melody"}, {"id": "b", "synth": "bowed_tone"}],
        "backbones": {"random_cnn": {}},
        "vocoders": {"wavenet": {"checkpoint": str(tmp_path / "missing.pth")}},
    }
    with pytest.raises(ConfigError, match=r"vocoders\.wavenet\.checkpoint: file not found: .*missing\.pth"):
        load_pipeline(config)
    config["vocoders"] = {"wavenet": {"checkpoint": str(tmp_path), "convention": "hifigan"}}
    with pytest.raises(ConfigError, match="renders only wavenet mels"):
        load_pipeline(config)
    config["vocoders"] = {"wavenet": {"checkpoint": str(tmp_path), "chunk": 512}}
    with pytest.raises(ConfigError, match=r"vocoders\.wavenet: unknown option 'chunk' \(renamed 'chunk_samples'\); "):
        load_pipeline(config)


@pytest.mark.parametrize(
    ("vocoder", "options", "message"),
    [
        ("hifigan", {"chunk_frames": 0}, r"vocoders\.hifigan\.chunk_frames: 0 is not allowed; allowed: >= 1$"),
        ("griffinlim", {"fade_frames": -1}, r"vocoders\.griffinlim\.fade_frames: -1 is not allowed; allowed: >= 0$"),
        (
            "wavenet",
            {"checkpoint": __file__, "layers": 24, "stacks": 5},  # any existing file passes the config check
            r"vocoders\.wavenet: layers \(24\) must be a multiple of stacks \(5\)",
        ),
    ],
)
def test_chunk_options_are_checked_at_config_time(vocoder, options, message):
    config = {
        "clips": [{"id": "a", "synth": "plucked_melody"}, {"id": "b", "synth": "bowed_tone"}],
        "backbones": {"random_cnn": {}},
        "vocoders": {vocoder: options},
    }
    with pytest.raises(ConfigError, match=message):
        load_pipeline(config)


def options_to_run(kind: str, tmp_path) -> dict:
    """What a registered vocoder needs beyond its defaults to run here: WaveNet a checkpoint (a user download), a
    random-weight one of two layers."""
    if kind != "wavenet":
        return {}
    torch.save({"state_dict": build_wavenet(layers=2, stacks=1).state_dict()}, tmp_path / "w.pth")
    return {"checkpoint": str(tmp_path / "w.pth"), "layers": 2, "stacks": 1}


@pytest.mark.parametrize("kind", list(VOCODERS))
def test_every_registered_vocoder_renders_frames_times_hop_in_its_convention(kind, tmp_path, device):
    """Parametrised over the registry: a new vocoder is covered without editing a list."""
    options = VOCODERS[kind].Options(**options_to_run(kind, tmp_path))
    options.check(f"vocoders.{kind}")
    vocoder = VOCODERS[kind](options, device)
    convention = vocoder.convention
    features = convention.features(harmonic(0.1, convention.sample_rate))
    audio = vocoder(features, progress=False)
    assert audio.dtype == np.float32 and audio.shape == (features.shape[1] * convention.hop_length,)
    assert np.isfinite(audio).all() and audio.std() > 0


def test_random_weight_wavenet_vocoder_renders_frames_times_hop_at_22050(tmp_path, device):
    # full-width layers as in the checkpoint, but only two of them to keep the test fast
    torch.manual_seed(1)
    torch.save({"state_dict": build_wavenet(layers=2, stacks=1).state_dict()}, tmp_path / "w.pth")
    options = WaveNetVocoder.Options(checkpoint=str(tmp_path / "w.pth"), layers=2, stacks=1, chunk_samples=512)
    options.check("vocoders.wavenet")
    vocoder = WaveNetVocoder(options, device)
    features = WAVENET.features(harmonic(0.1, 22050))
    audio = vocoder(features, progress=False)
    assert isinstance(vocoder.convention, MelConvention) and vocoder.convention.sample_rate == 22050
    assert audio.dtype == np.float32 and audio.shape == (features.shape[1] * WAVENET.hop_length,)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= np.sqrt(2) and audio.std() > 0  # equal-power seams
    np.testing.assert_array_equal(vocoder(features, progress=False), audio)  # seeded
