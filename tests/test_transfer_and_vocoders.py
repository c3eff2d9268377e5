import dataclasses
import itertools

import librosa
import numpy as np
import pytest
import torch
from conftest import chirp, gatys_pair, harmonic, silence

from workflow_scripts.audio.conventions import HIFIGAN, NNLS_BLOCK_FRAMES, WAVENET, mel_to_magnitude
from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.pipeline.options import TransferOptions
from workflow_scripts.transfer.backbones import RandomCNN, build_backbone
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.style_statistics import style_targets
from workflow_scripts.transfer.windows import WINDOW_OVERLAP, fade_weights, time_windows
from workflow_scripts.vocoders.chunking import plan_chunks
from workflow_scripts.vocoders.griffinlim import GriffinLim, fast_griffin_lim, griffin_lim


@pytest.fixture(scope="module")
def content_and_style():
    """Content with timing (three notes separated by rests); style a chirp."""
    notes = [np.concatenate([harmonic(0.25, 22050, f0=f0), silence(0.15, 22050)]) for f0 in (180, 240, 300)]
    return HIFIGAN.unit_mel(np.concatenate(notes)), HIFIGAN.unit_mel(chirp(0.7, 22050))


def envelope_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.mean(axis=0), b.mean(axis=0))[0, 1])


def small_cnn(**options) -> RandomCNN:
    return RandomCNN(RandomCNN.Options(filters=256, width=5, **options), n_mels=80)


@pytest.mark.parametrize("frames", [1, 7, 86, 431])
def test_random_cnn_features_keep_time_axis(frames, device):
    maps = small_cnn().to(device)(torch.rand(1, 80, frames, device=device))
    assert set(maps) == {"relu"} and maps["relu"].shape == (256, frames) and maps["relu"].device.type == device.type
    assert float(maps["relu"].min()) >= 0.0


def test_random_cnn_is_seeded_and_follows_he_init():
    a, b, c = small_cnn(seed=1), small_cnn(seed=1), small_cnn(seed=2)
    torch.testing.assert_close(a.conv.weight, b.conv.weight, rtol=0, atol=0)
    assert not torch.equal(a.conv.weight, c.conv.weight)
    expected_std = np.sqrt(2) * np.sqrt(2 / ((80 + 256) * 5))
    assert float(a.conv.weight.std()) == pytest.approx(expected_std, rel=0.05)
    assert not any(p.requires_grad for p in a.parameters())


def test_multi_scale_random_cnn_adds_a_layer_per_width_and_keeps_the_first(device):
    single, multi = small_cnn().to(device), small_cnn(widths=[3, 9]).to(device)
    unit = torch.rand(1, 80, 40, device=device)
    maps = multi(unit)
    assert list(maps) == ["relu", "relu_w3", "relu_w9"] and all(m.shape == (256, 40) for m in maps.values())
    assert multi.content_layers == multi.style_layers == {"relu": 1.0, "relu_w3": 1.0, "relu_w9": 1.0}
    torch.testing.assert_close(maps["relu"], single(unit)["relu"], rtol=0, atol=0)
    for conv, width in zip(multi.extra_convs, (3, 9), strict=True):
        assert conv.kernel_size == (width,)
        assert float(conv.weight.std()) == pytest.approx(np.sqrt(2) * np.sqrt(2 / ((80 + 256) * width)), rel=0.05)
    assert not torch.equal(maps["relu_w3"][:, :5], maps["relu"][:, :5])
    features = multi.frame_features(unit[0])
    assert features.shape == (3 * 256, 40)
    torch.testing.assert_close(features[256:512], maps["relu_w3"], rtol=0, atol=0)


def test_random_cnn_sees_log1p_amplitude_as_in_the_published_recipe(device):
    """Quiet bins (unit 0, the floor) must feed the layer about zero, not a level the Gram would have to match."""
    backbone = small_cnn().to(device)
    unit = torch.rand(1, 80, 40, device=device)
    amplitude = torch.pow(10.0, 5.0 * (unit - 1.0))  # 100 dB above the floor is amplitude 1
    expected = torch.relu(torch.nn.functional.conv1d(torch.log1p(amplitude), backbone.conv.weight, padding=2))[0]
    torch.testing.assert_close(backbone(unit)["relu"], expected)
    assert float(backbone(torch.zeros(1, 80, 40, device=device))["relu"].abs().max()) < 1e-4


def test_state_dict_file_gives_identical_features(tmp_path):
    source = small_cnn(seed=3)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    loaded = small_cnn(seed=99, weights=str(tmp_path / "w.pt"))
    x = torch.rand(1, 80, 50)
    torch.testing.assert_close(loaded(x)["relu"], source(x)["relu"], rtol=0, atol=0)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"nope\.pt: backbone weights file not found"):
        build_backbone("random_cnn", RandomCNN.Options(weights=str(tmp_path / "nope.pt")), 80)


@pytest.mark.parametrize("init", ["content", "noise"])
def test_lbfgs_transfer_reduces_style_loss_and_keeps_shape(content_and_style, init, device):
    content, style = content_and_style
    options = TransferOptions(iterations=60, init=init, tolerance=0)
    result = gatys_pair(content, style, small_cnn(style_weight=30.0), options, device, progress=False)
    assert result.unit_mel.shape == content.shape and result.unit_mel.dtype == np.float32
    first_style = small_cnn_style_loss(content if init == "content" else None, content, style)
    assert result.final["style"] < first_style / 8
    assert np.isfinite(result.unit_mel).all() and result.unit_mel.std() > 0.05  # not flat
    if init == "content":
        assert envelope_correlation(result.unit_mel, content) > 0.8  # the content's timing survives


def small_cnn_style_loss(start, content, style) -> float:
    from workflow_scripts.transfer.objective import Objective
    from workflow_scripts.transfer.style_statistics import style_targets

    backbone = small_cnn()
    objective = Objective(backbone, torch.from_numpy(content), style_targets(backbone, torch.from_numpy(style)))
    start = torch.from_numpy(start) if start is not None else torch.full_like(torch.from_numpy(content), 0.5)
    return float(objective(start)[2])


@pytest.mark.parametrize("optimizer", ["lbfgs", "lbfgs_device", "adam"])
def test_history_losses_are_those_of_the_mel_each_step_ends_at(content_and_style, optimizer, device):
    """The history reuses the closure's last evaluation when the step accepted it; it must match recomputation."""
    from workflow_scripts.transfer.objective import Objective
    from workflow_scripts.transfer.style_statistics import style_targets

    content, style = content_and_style
    options = TransferOptions(optimizer=optimizer, iterations=6, tolerance=0,
                              learning_rate=0.01 if optimizer == "adam" else 1.0)  # fmt: skip
    snapshots = []
    result = gatys_pair(content, style, small_cnn(), options, device, progress=False,
                            on_step=lambda row, mel: snapshots.append((row, mel.clone())))  # fmt: skip
    assert [row for row, _ in snapshots] == result.history
    np.testing.assert_array_equal(snapshots[-1][1].cpu().numpy(), result.unit_mel)
    backbone = small_cnn().to(device)
    content_t, style_t = torch.from_numpy(content).to(device), torch.from_numpy(style).to(device)
    objective = Objective(backbone, content_t, style_targets(backbone, style_t))
    for row, mel in snapshots:
        with torch.no_grad():
            total, content_loss, style_loss = (float(v) for v in objective(mel))
        assert (row["total"], row["content"], row["style"]) == pytest.approx((total, content_loss, style_loss),
                                                                             rel=1e-5)  # fmt: skip


def test_adam_transfer_runs_and_improves(content_and_style, device):
    content, style = content_and_style
    result = gatys_pair(
        content, style, small_cnn(), TransferOptions(optimizer="adam", learning_rate=0.01, iterations=20,
                                                     tolerance=0), device, progress=False)  # fmt: skip
    assert len(result.history) == 20
    assert result.history[-1]["total"] < result.history[0]["total"]


def test_transfer_is_deterministic(content_and_style, device):
    """Bit-identical on CPU; on CUDA under the job runtime's deterministic settings (conftest applies them)."""
    content, style = content_and_style
    options = TransferOptions(iterations=5, init="noise")
    runs = [gatys_pair(content, style, small_cnn(), options, device, progress=False) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].unit_mel, runs[1].unit_mel)


def test_early_stop_on_convergence(content_and_style, device):
    content, _ = content_and_style
    # style == content: the content initialisation is already optimal, so after the first step the run stops
    # once `patience` further steps have not improved
    result = gatys_pair(content, content, small_cnn(), TransferOptions(iterations=100, patience=3), device,
                            progress=False)  # fmt: skip
    assert len(result.history) == 1 + 3


def test_device_lbfgs_checks_for_early_stopping_every_few_steps(content_and_style, device):
    """As above, but the losses are read every CHECK_EVERY steps: the run stops at the first check after the rule
    says so, and the history holds every step it made."""
    from workflow_scripts.transfer.optimise import CHECK_EVERY

    content, _ = content_and_style
    options = TransferOptions(optimizer="lbfgs_device", iterations=100, patience=3)
    result = gatys_pair(content, content, small_cnn(), options, device, progress=False)
    assert [row["step"] for row in result.history] == list(range(1, CHECK_EVERY + 1))


def test_nnls_recovers_a_magnitude_consistent_with_the_mel(device):
    magnitude = HIFIGAN.stft(torch.from_numpy(harmonic(0.5, 22050)).to(device)).abs()
    mel = HIFIGAN.mel_basis(device) @ magnitude
    estimate = mel_to_magnitude(mel, HIFIGAN, iterations=300)
    assert float(estimate.min()) >= 0.0 and estimate.device == mel.device
    relative_residual = torch.linalg.norm(HIFIGAN.mel_basis(device) @ estimate - mel) / torch.linalg.norm(mel)
    assert float(relative_residual) < 0.02


def test_nnls_solves_each_frame_independently_of_the_blocking(device):
    magnitude = HIFIGAN.stft(torch.from_numpy(chirp(14.0, 22050)).to(device)).abs()
    mel = HIFIGAN.mel_basis(device) @ magnitude
    assert mel.shape[1] > NNLS_BLOCK_FRAMES + 50
    whole = mel_to_magnitude(mel, HIFIGAN, iterations=30)
    # a slice that straddles a block boundary, solved on its own
    part = slice(NNLS_BLOCK_FRAMES - 100, NNLS_BLOCK_FRAMES + 50)
    torch.testing.assert_close(whole[:, part], mel_to_magnitude(mel[:, part], HIFIGAN, iterations=30))


def spectral_convergence_db(audio: torch.Tensor, magnitude: torch.Tensor) -> float:
    rebuilt = HIFIGAN.stft(audio).abs()[:, : magnitude.shape[1]]
    return float(20 * torch.log10(torch.linalg.norm(rebuilt - magnitude) / torch.linalg.norm(magnitude)))


def test_fast_griffin_lim_converges_and_beats_plain_griffin_lim(device):
    magnitude = HIFIGAN.stft(torch.from_numpy(harmonic(1.0, 22050, vibrato=0.01)).to(device)).abs()
    fast = spectral_convergence_db(griffin_lim(magnitude, HIFIGAN, 50, momentum=0.99), magnitude)
    plain = spectral_convergence_db(griffin_lim(magnitude, HIFIGAN, 50, momentum=0.0), magnitude)
    assert fast < -20.0
    assert fast < plain - 3.0


def test_fast_griffin_lim_iterates_exactly_as_librosa_given_its_framing_and_start():
    magnitude = HIFIGAN.stft(torch.from_numpy(chirp(0.5, 22050))).abs()
    framing = {"n_fft": 1024, "hop_length": 256, "center": False}
    expected = librosa.griffinlim(magnitude.numpy(), n_iter=20, momentum=0.99, init=None, **framing)
    rebuilt = fast_griffin_lim(
        magnitude,
        torch.ones_like(magnitude, dtype=torch.complex64),  # librosa's init=None: zero phase
        lambda audio: torch.from_numpy(librosa.stft(audio.numpy(), **framing)),
        lambda spec: torch.from_numpy(librosa.istft(spec.numpy(), **framing)),
        iterations=20,
        momentum=0.99,
    )
    # the first and last samples sit where the window envelope vanishes (no reflect padding in this framing)
    interior = slice(HIFIGAN.padding, -HIFIGAN.padding)
    np.testing.assert_allclose(rebuilt.numpy()[interior], expected[interior], rtol=0, atol=1e-4)


@pytest.mark.parametrize("convention", [HIFIGAN, WAVENET], ids=["hifigan", "wavenet"])
def test_griffin_lim_vocoder_duration_and_level(convention, device):
    audio = harmonic(1.0, 22050)
    features = convention.features(audio)
    vocoder = GriffinLim(GriffinLim.Options(convention=convention.name, iterations=30), device)
    rendered = vocoder(features, progress=False)
    assert rendered.shape == (features.shape[1] * convention.hop_length,)
    assert abs(len(rendered) - len(audio)) < convention.hop_length
    rms_ratio = np.sqrt(np.mean(rendered**2)) / np.sqrt(np.mean(audio[: len(rendered)] ** 2))
    assert 0.5 < rms_ratio < 2.0
    # the rendered audio's mel is close to the one it was rendered from
    error = np.abs(convention.features(rendered) - features).mean() / np.ptp(features)
    assert error < 0.05


def test_griffin_lim_vocoder_renders_a_clip_of_one_chunk_whole():
    features = HIFIGAN.features(harmonic(1.0, 22050))
    magnitude = mel_to_magnitude(HIFIGAN.to_mel(torch.from_numpy(features)), HIFIGAN)
    whole = griffin_lim(magnitude, HIFIGAN, iterations=20, seed=5)
    rendered = GriffinLim(GriffinLim.Options(iterations=20, seed=5))(features, progress=False)
    np.testing.assert_array_equal(rendered, whole.numpy())


def spectral_convergence_of_frames_db(audio: np.ndarray, magnitude: torch.Tensor, frames: list[int]) -> float:
    rebuilt = HIFIGAN.stft(torch.from_numpy(audio)).abs()[:, frames]
    return float(20 * torch.log10(torch.linalg.norm(rebuilt - magnitude[:, frames]) / torch.linalg.norm(magnitude)))


def test_chunked_griffin_lim_is_as_consistent_at_its_seams_as_whole_clip_griffin_lim():
    rng = np.random.default_rng(0)
    notes = [np.concatenate([harmonic(rng.uniform(0.2, 0.5), 22050, f0=rng.uniform(100, 300), vibrato=0.03),
                             silence(0.05, 22050)]) for _ in range(8)]  # fmt: skip
    features = HIFIGAN.features(np.concatenate(notes)[: 3 * 22050])
    magnitude = mel_to_magnitude(HIFIGAN.to_mel(torch.from_numpy(features)), HIFIGAN)
    options = GriffinLim.Options(iterations=50, chunk_frames=48)
    chunked = GriffinLim(options)(features, progress=False)
    whole = GriffinLim(dataclasses.replace(options, chunk_frames=features.shape[1]))(features, progress=False)
    assert chunked.shape == whole.shape == (features.shape[1] * HIFIGAN.hop_length,)
    chunks, _ = plan_chunks(features.shape[1], options.chunk_frames, options.fade_frames)
    near_seams = sorted({f for c in chunks[1:] for f in range(c.keep - 4, c.keep + c.fade + 4)})
    assert len(chunks) == 6
    # measured: whole -17.7 dB overall, -16.7 dB near the seams; chunked -17.4 and -16.5. Chunks started from
    # random phase and cross-faded (no hand-over) gave -15.8 and -12.1: the seams were inconsistent
    for frames in (list(range(features.shape[1])), near_seams):
        whole_db = spectral_convergence_of_frames_db(whole, magnitude, frames)
        assert spectral_convergence_of_frames_db(chunked, magnitude, frames) < whole_db + 1.0


def test_time_windows_cover_the_clip_and_fade_weights_sum_to_one():
    assert time_windows(100, 0, 8) == [(0, 100)] and time_windows(100, 200, 8) == [(0, 100)]
    windows = time_windows(1000, 256, 64)
    assert windows[0][0] == 0 and windows[-1][1] == 1000
    assert all(b[0] == a[1] - 64 for a, b in itertools.pairwise(windows))  # neighbours share 64 frames
    total = torch.zeros(1000)
    for lo, hi in windows:
        total[lo:hi] += fade_weights(lo, hi, 1000, 64)
    torch.testing.assert_close(total, torch.ones(1000))


def test_windowed_gatys_optimises_every_window_against_the_global_style(content_and_style, device):
    content, style = content_and_style
    long_content = np.tile(content, (1, 4))  # 4x the frames: four windows of 2 * 64 + a little
    window = long_content.shape[1] // 3
    options = TransferOptions(method="gatys", iterations=15, tolerance=0, window_frames=window)
    backbone = small_cnn(style_weight=30.0)
    result = gatys_pair(long_content, style, backbone, options, device, progress=False)
    assert result.unit_mel.shape == long_content.shape and np.isfinite(result.unit_mel).all()
    assert len(result.history) == 15 * len(time_windows(long_content.shape[1], window, WINDOW_OVERLAP))
    # windows reach about the style loss that one optimisation of the whole clip reaches
    whole = gatys_pair(long_content, style, backbone, dataclasses.replace(options, window_frames=0), device,
                           progress=False)  # fmt: skip
    backbone = backbone.cpu()
    objective = Objective(backbone, torch.from_numpy(long_content), style_targets(backbone, torch.from_numpy(style)))
    initial = float(objective(torch.from_numpy(long_content))[2])
    windowed_style = float(objective(torch.from_numpy(result.unit_mel))[2])
    whole_style = float(objective(torch.from_numpy(whole.unit_mel))[2])
    # measured: 1.07 at the content, 0.205 whole, 0.218 windowed
    assert windowed_style < 0.3 * initial and windowed_style < 1.25 * whole_style
