import librosa
import numpy as np
import pytest
import torch
from conftest import harmonic

from workflow_scripts.audio.conventions import (
    CONVENTIONS,
    HIFIGAN,
    WAVENET,
    _overlap_add,
    get_convention,
    unit_to_amplitude,
)


def reference_magnitude(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """jik876 framing written independently: reflect pad (n_fft - hop) / 2, uncentred librosa STFT."""
    padded = np.pad(audio, (n_fft - hop) // 2, mode="reflect")
    return np.abs(librosa.stft(padded, n_fft=n_fft, hop_length=hop, window="hann", center=False))


def test_hifigan_features_match_reference_recipe():
    audio = harmonic(1.3, 22050, f0=220.0)
    mel_basis = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=0, fmax=8000)
    expected = np.log(np.maximum(mel_basis @ reference_magnitude(audio, 1024, 256), 1e-5))
    # float32 STFT noise is amplified by the log near the 1e-5 floor (about -11.5); 1e-3 is far below a dB
    np.testing.assert_allclose(HIFIGAN.features(audio), expected, atol=1e-3)


def test_wavenet_features_match_r9y9_normalisation():
    audio = harmonic(1.3, 22050, f0=220.0)
    mel_basis = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=125, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, mel_basis @ reference_magnitude(audio, 1024, 256))) - 20
    np.testing.assert_allclose(WAVENET.features(audio), np.clip((db + 100) / 100, 0, 1), atol=1e-5)


@pytest.mark.parametrize("samples", [1024, 5000, 22050, 22050 * 3 + 17])
def test_frame_count_is_samples_over_hop(samples):
    audio = np.random.default_rng(0).standard_normal(samples).astype(np.float32)
    features = HIFIGAN.features(audio)
    assert features.shape == (80, samples // 256) == (80, HIFIGAN.frames_for(samples))


def test_audio_shorter_than_a_window_is_rejected():
    with pytest.raises(ValueError, match="1000 samples is shorter than one hifigan analysis window"):
        HIFIGAN.features(np.zeros(1000, dtype=np.float32))


def test_istft_inverts_stft_in_the_convention_framing():
    audio = torch.from_numpy(harmonic(0.7, 22050))
    rebuilt = HIFIGAN.istft(HIFIGAN.stft(audio))
    assert rebuilt.shape[-1] == len(audio) // 256 * 256
    torch.testing.assert_close(rebuilt, audio[: rebuilt.shape[-1]], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("width", "hop"), [(1024, 256), (1000, 256), (7, 3)])
def test_overlap_add_equals_a_per_frame_loop(width, hop):
    segments = torch.randn(2, width, 9, generator=torch.Generator().manual_seed(0))
    total = 8 * hop + width
    expected = torch.zeros(2, total)
    for frame in range(9):
        expected[:, frame * hop : frame * hop + width] += segments[:, :, frame]
    torch.testing.assert_close(_overlap_add(segments, hop, total), expected)


def test_istft_matches_librosa_overlap_add():
    audio = harmonic(0.7, 22050)
    spec = HIFIGAN.stft(torch.from_numpy(audio))
    frames = spec.shape[-1]
    expected = librosa.istft(spec.numpy(), hop_length=256, n_fft=1024, window="hann", center=False)
    expected = expected[HIFIGAN.padding : HIFIGAN.padding + frames * 256]
    np.testing.assert_allclose(HIFIGAN.istft(spec).numpy(), expected, atol=1e-5)


def test_batched_istft_equals_istft_of_each_item():
    audio = torch.stack([torch.from_numpy(harmonic(0.3, 22050)), torch.from_numpy(harmonic(0.3, 22050)[::-1].copy())])
    spec = HIFIGAN.stft(audio)
    torch.testing.assert_close(HIFIGAN.istft(spec), torch.stack([HIFIGAN.istft(item) for item in spec]))


@pytest.mark.parametrize("convention", CONVENTIONS.values(), ids=list(CONVENTIONS))
def test_unit_scale_round_trip_and_floor(convention):
    features = torch.from_numpy(convention.features(harmonic(0.5, convention.sample_rate)))
    unit = convention.to_unit(features)
    torch.testing.assert_close(convention.from_unit(unit), features, atol=1e-5, rtol=0)
    silent = torch.from_numpy(convention.features(np.zeros(4096, dtype=np.float32)))
    assert torch.all(convention.to_unit(silent) <= 1e-6)
    assert 0.5 < float(unit.max()) < 1.5


@pytest.mark.parametrize("convention", CONVENTIONS.values(), ids=list(CONVENTIONS))
def test_to_mel_inverts_compression_above_floor(convention):
    mel = torch.tensor([[1e-3, 0.1, 1.0, 5.0]])
    torch.testing.assert_close(convention.to_mel(convention.compression.compress(mel)), mel, rtol=1e-4, atol=0)


def test_unknown_convention_names_known_ones():
    with pytest.raises(ValueError, match="unknown mel convention 'hifi'; known: hifigan, wavenet"):
        get_convention("hifi")


def test_unit_to_amplitude_gives_the_hifigan_mel_magnitude():
    audio = harmonic(0.5, 22050, f0=220.0)
    features = torch.from_numpy(HIFIGAN.features(audio))
    magnitude = torch.clamp(HIFIGAN.mel_basis() @ HIFIGAN.stft(torch.from_numpy(audio)).abs(), min=1e-5)
    torch.testing.assert_close(unit_to_amplitude(HIFIGAN.to_unit(features)), magnitude, rtol=1e-4, atol=0)
    assert float(unit_to_amplitude(torch.tensor(0.0))) == pytest.approx(1e-5)  # the floor, 100 dB down
