"""Field-standard metrics with known answers: CREPE F0 (against torchcrepe's own network), F0 correlation and
voicing agreement, GE2E speaker similarity, DNSMOS."""

import math
import sys
import types

import numpy as np
import pytest
import torch
from conftest import harmonic, noise_bursts, silence

from workflow_scripts.audio import pitch
from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.metrics import perceptual

SR = 22050


def glide(seconds: float, sr: int, f_start: float, f_end: float) -> np.ndarray:
    """Harmonic tone whose pitch moves exponentially from ``f_start`` to ``f_end``."""
    t = np.arange(int(seconds * sr)) / sr
    frequency = f_start * (f_end / f_start) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(frequency) / sr
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 8))).astype(np.float32)


def test_crepe_network_matches_torchcrepe(device):
    # torchcrepe imports torchaudio only to read files; a stand-in module lets this test load its reference network.
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    import torchcrepe  # requirements-dev.txt installs what it imports: this test must not skip

    audio = harmonic(0.5, pitch.SAMPLE_RATE, f0=180.0)
    times = np.arange(0, 0.5, 0.01)
    ours = pitch.activations(audio, pitch.SAMPLE_RATE, times, device)
    frames = next(torchcrepe.preprocess(torch.from_numpy(audio)[None], pitch.SAMPLE_RATE, 160))
    reference = torchcrepe.infer(frames, "tiny")[: len(times)]
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("f0", [110.0, 261.6, 880.0])
def test_f0_of_a_steady_tone_within_ten_cents(f0, device):
    audio = harmonic(1.0, SR, f0=f0)
    track, periodicity = pitch.f0_track(audio, SR, np.arange(0.1, 0.9, 0.01), device)
    assert np.all(np.isfinite(track)) and np.all(periodicity > pitch.VOICED_THRESHOLD)
    assert np.max(np.abs(1200 * np.log2(track / f0))) < 10.0


def test_silence_and_noise_are_unvoiced(device):
    for audio in (silence(0.5, SR), noise_bursts(0.5, SR)):
        track, _ = pitch.f0_track(audio, SR, np.arange(0.05, 0.45, 0.01), device)
        assert np.mean(np.isnan(track)) > 0.9


def test_f0_at_mel_frame_centres_follows_a_glide(device):
    audio = glide(1.0, SR, 150.0, 300.0)
    frames = HIFIGAN.frames_for(len(audio))
    track, _ = pitch.f0_track(audio, SR, HIFIGAN.frame_times(frames), device)
    expected = 150.0 * 2.0 ** (HIFIGAN.frame_times(frames) / 1.0)
    inner = slice(5, frames - 5)
    assert len(track) == frames
    assert np.nanmax(np.abs(1200 * np.log2(track[inner] / expected[inner]))) < 25.0


def test_pitch_agreement_known_answers():
    rising = np.geomspace(100.0, 200.0, 100)
    assert perceptual.pitch_agreement(rising, rising)["f0_corr"] == pytest.approx(1.0)
    # a transposition keeps the melody: log-F0 correlation is 1
    assert perceptual.pitch_agreement(rising, 1.5 * rising)["f0_corr"] == pytest.approx(1.0)
    assert perceptual.pitch_agreement(rising, rising[::-1])["f0_corr"] == pytest.approx(-1.0)
    half_voiced = rising.copy()
    half_voiced[::2] = np.nan
    scores = perceptual.pitch_agreement(rising, half_voiced)
    assert scores["voicing_agreement"] == pytest.approx(0.5) and scores["content_voiced"] == 1.0
    # unpitched content: no pitch metrics, never a made-up number
    unpitched = np.full(100, np.nan)
    unpitched[:10] = 100.0
    scores = perceptual.pitch_agreement(unpitched, rising)
    assert math.isnan(scores["f0_corr"]) and math.isnan(scores["voicing_agreement"])
    assert scores["content_voiced"] == pytest.approx(0.1)


def test_speaker_similarity_known_answers():
    content, style = np.array([1.0, 0.0]), np.array([0.6, 0.8])
    assert perceptual.speaker_similarity(content, style, content)["speaker_moved"] == pytest.approx(0.0)
    assert perceptual.speaker_similarity(content, style, style)["speaker_moved"] == pytest.approx(1.0)
    between = np.array([0.8, 0.6])  # cosine 0.96 with the style, 0.8 with the content
    scores = perceptual.speaker_similarity(content, style, between)
    assert scores["speaker_sim_content_style"] == pytest.approx(0.6)
    assert scores["speaker_sim_style"] == pytest.approx(0.96)
    assert scores["speaker_moved"] == pytest.approx((0.96 - 0.6) / 0.4)


def test_speaker_embedding_is_unit_norm_and_closer_for_the_same_voice(device):
    voice = harmonic(2.0, 16000, f0=120.0, vibrato=0.02)
    same = perceptual.speaker_embedding(voice, 16000, device)
    assert np.linalg.norm(same) == pytest.approx(1.0, abs=1e-5)
    again = perceptual.speaker_embedding(voice[4000:], 16000, device)
    other = perceptual.speaker_embedding(harmonic(2.0, 16000, f0=260.0, partials=3), 16000, device)
    assert same @ again > same @ other


def test_dnsmos_prefers_a_clean_voice_to_the_same_voice_in_noise():
    voice = harmonic(3.0, 16000, f0=140.0, vibrato=0.03)
    noisy = voice + 0.3 * np.random.default_rng(0).standard_normal(len(voice)).astype(np.float32)
    clean_scores, noisy_scores = perceptual.dnsmos(voice, 16000), perceptual.dnsmos(noisy, 16000)
    assert all(1.0 <= clean_scores[key] <= 5.0 for key in ("sig", "bak", "ovrl"))
    assert clean_scores["bak"] > noisy_scores["bak"] + 0.5


@pytest.mark.parametrize("seconds", [3.0, 11.5])
def test_dnsmos_agrees_with_the_speechmos_reference(seconds):
    """Our runner of the wheel's P.835 model against speechmos's own (short clips doubled, long ones windowed)."""
    from speechmos import dnsmos as reference

    voice = harmonic(seconds, 16000, f0=140.0, vibrato=0.03)
    noisy = voice + 0.05 * np.random.default_rng(1).standard_normal(len(voice)).astype(np.float32)
    ours = perceptual.dnsmos(noisy, 16000)
    # scaled exactly as ours scales (the model turns a one-ulp difference of the scale into 4e-5 of a score)
    theirs = reference.run(noisy * (0.891 / float(np.max(np.abs(noisy)))), 16000)
    assert [ours[key] for key in ("sig", "bak", "ovrl")] == pytest.approx(
        [theirs[f"{key}_mos"] for key in ("sig", "bak", "ovrl")], rel=1e-6
    )


def test_speech_columns_apply_only_to_speech():
    clip = (harmonic(1.0, 16000, f0=140.0), 16000)
    music = perceptual.speech_columns(clip, clip, clip, {"content": "music", "style": "speech"})
    assert all(math.isnan(value) for value in music.values())
    to_instrument = perceptual.speech_columns(clip, clip, clip, {"content": "speech", "style": "music"})
    assert math.isnan(to_instrument["speaker_moved"]) and to_instrument["dnsmos_ovrl_change"] == pytest.approx(0.0)
    speech = perceptual.speech_columns(clip, clip, clip, {"content": "speech", "style": "speech"})
    assert speech["speaker_sim_style"] == pytest.approx(1.0, abs=1e-5)
