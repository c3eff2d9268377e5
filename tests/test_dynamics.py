"""Loudness contour, chroma and smoothness metrics with known answers: a decaying tone, a quiet lead-in filled with
loud noise, chords against smeared chords, a stuttering frame shuffle."""

import math

import numpy as np
import pytest
from conftest import silence

from workflow_scripts.metrics import dynamics
from workflow_scripts.metrics.metrics import evaluation_db

SR = 22050


def tone(seconds: float, frequencies: tuple[float, ...], decay_s: float | None = None, level: float = 0.3):
    """Sum of sines (a note or a chord), optionally decaying exponentially with time constant ``decay_s``."""
    t = np.arange(int(seconds * SR)) / SR
    signal = sum(np.sin(2 * np.pi * f * t) for f in frequencies) / len(frequencies)
    envelope = np.exp(-t / decay_s) if decay_s else 1.0
    return (level * signal * envelope).astype(np.float32)


def noise(seconds: float, level: float = 0.3, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_momentary_loudness_of_a_full_scale_1khz_sine_is_about_minus_3_lufs():
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS (K-weighting is about +0.7 dB at 1 kHz).
    contour = dynamics.loudness_contour(tone(2.0, (997.0,), level=1.0), SR)
    assert len(contour) == 17  # 400 ms blocks every 100 ms over 2 s
    np.testing.assert_allclose(contour, -3.01, atol=0.1)


def test_a_decay_falls_steadily_and_a_copy_correlates_fully():
    decaying = tone(3.0, (440.0,), decay_s=0.5)
    contour = dynamics.loudness_contour(decaying, SR)
    # an exponential decay is a straight line in LUFS: 20 log10(e) / 0.5 s = 17.4 LU per second
    slope = np.polyfit(np.arange(len(contour)) * dynamics.MOMENTARY_HOP_S, contour, 1)[0]
    assert slope == pytest.approx(-17.4, abs=0.5)
    result = dynamics.loudness_agreement((decaying, SR), (0.5 * decaying, SR))
    assert result["loudness_corr"] == pytest.approx(1.0, abs=1e-6)  # level-independent
    assert result["quiet_lift_lu"] == pytest.approx(0.0, abs=0.01)


def test_a_decay_held_at_full_level_scores_low():
    decaying, held = tone(3.0, (440.0,), decay_s=0.5), tone(3.0, (440.0,))
    result = dynamics.loudness_agreement((decaying, SR), (held + 1e-3 * noise(3.0), SR))
    assert result["loudness_corr"] < 0.5
    assert result["quiet_lift_lu"] > 15.0


def test_a_quiet_lead_in_filled_with_loud_noise_scores_low():
    notes = tone(2.0, (440.0,))
    content = np.concatenate([silence(2.0, SR) + 1e-4 * noise(2.0), notes])
    filled = np.concatenate([noise(2.0, level=0.2), notes])
    kept = np.concatenate([1e-4 * noise(2.0, seed=1), notes])
    lead_in_filled = dynamics.loudness_agreement((content, SR), (filled, SR))
    lead_in_kept = dynamics.loudness_agreement((content, SR), (kept, SR))
    assert lead_in_kept["loudness_corr"] > 0.99
    assert lead_in_filled["loudness_corr"] < 0.3
    assert lead_in_filled["quiet_lift_lu"] > 30.0
    assert abs(lead_in_kept["quiet_lift_lu"]) < 3.0


def test_the_loudness_contour_ignores_differences_far_below_the_loudest_block():
    # digital silence and noise 90 dB down read the same (both at the 60 LU floor)
    notes = tone(1.0, (440.0,))
    digital = np.concatenate([silence(1.0, SR), notes])
    hiss = np.concatenate([1e-5 * noise(1.0), notes])
    a, b = dynamics.loudness_contour(digital, SR), dynamics.loudness_contour(hiss, SR)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a.min() == pytest.approx(a.max() - dynamics.LOUDNESS_RANGE_LU)


C_MAJOR, F_MAJOR, G_MAJOR = (261.63, 329.63, 392.0), (349.23, 440.0, 523.25), (392.0, 493.88, 587.33)


def chords(*frequencies: tuple[float, ...]) -> np.ndarray:
    return np.concatenate([tone(0.75, chord) for chord in frequencies])


def test_chords_keep_their_chroma_and_smeared_chords_do_not():
    content = chords(C_MAJOR, F_MAJOR, G_MAJOR, C_MAJOR)
    octave_up = chords(*(tuple(2 * f for f in chord) for chord in (C_MAJOR, F_MAJOR, G_MAJOR, C_MAJOR)))
    # smeared: every chord's notes replaced by the cluster of all three chords (the harmony of the whole piece)
    cluster = C_MAJOR + F_MAJOR + G_MAJOR
    smeared = chords(cluster, cluster, cluster, cluster)
    assert dynamics.chroma_corr((content, SR), (content, SR)) == pytest.approx(1.0, abs=1e-6)
    assert dynamics.chroma_corr((content, SR), (octave_up, SR)) > 0.9  # pitch classes survive an octave
    assert dynamics.chroma_corr((content, SR), (smeared, SR)) < 0.7  # the 7 pitch classes of C, F and G
    assert abs(dynamics.chroma_corr((content, SR), (noise(3.0), SR))) < 0.3


def test_chroma_is_compared_on_the_contents_audible_frames_only():
    content = np.concatenate([silence(1.0, SR), chords(C_MAJOR)])
    # what the output holds where the content is silent does not count
    output = np.concatenate([chords(F_MAJOR, G_MAJOR)[:SR], chords(C_MAJOR)])
    assert dynamics.chroma_corr((content, SR), (output, SR)) > 0.9
    assert math.isnan(dynamics.chroma_corr((silence(1.0, SR), SR), (content, SR)))


def test_a_stuttering_frame_shuffle_changes_more_than_the_content():
    content = chords(C_MAJOR, F_MAJOR, G_MAJOR, C_MAJOR)
    style = noise(3.0)
    # the same audio cut into 23 ms pieces in random order: each frame jumps to another chord
    pieces = content[: len(content) // 512 * 512].reshape(-1, 512)
    stutter = pieces[np.random.default_rng(0).permutation(len(pieces))].reshape(-1)
    spaces = {name: evaluation_db(audio, SR) for name, audio in (("content", content), ("style", style),
                                                                 ("stutter", stutter))}  # fmt: skip
    kept = dynamics.smoothness(spaces["content"], spaces["style"], spaces["content"])
    stuttered = dynamics.smoothness(spaces["content"], spaces["style"], spaces["stutter"])
    assert kept["frame_change_ratio"] == pytest.approx(1.0)  # the content is the smoother source here
    assert kept["frame_change_db"] == kept["content_frame_change_db"] < kept["style_frame_change_db"]
    assert stuttered["frame_change_ratio"] > 2.0


def test_frame_change_ignores_jitter_below_the_floor_and_a_few_onsets():
    steady = evaluation_db(tone(2.0, (440.0,)) + 1e-5 * noise(2.0), SR)
    assert dynamics.frame_change_db(steady) < 0.5  # the hiss is 80 dB down: floored, no change
    with_onsets = evaluation_db(chords(C_MAJOR, F_MAJOR, G_MAJOR, C_MAJOR), SR)
    assert dynamics.frame_change_db(with_onsets) < 0.5  # three chord changes are not the median frame


def test_dynamics_columns_apply_chroma_to_music_content_only():
    content, style, output = chords(C_MAJOR, G_MAJOR), noise(1.5), chords(C_MAJOR, G_MAJOR)
    clips = {"content": (content, SR), "style": (style, SR), "output": (output, SR)}
    spaces = {name: evaluation_db(*clip) for name, clip in clips.items()}
    music = dynamics.dynamics_columns(clips, spaces, spaces, {"content": "music", "style": "music"})
    speech = dynamics.dynamics_columns(clips, spaces, spaces, {"content": "speech", "style": "music"})
    assert music["chroma_corr"] == pytest.approx(1.0, abs=1e-6) and math.isnan(speech["chroma_corr"])
    assert music["loudness_corr"] == pytest.approx(1.0) and music["frame_change_ratio"] == pytest.approx(1.0)
    assert music["frame_change_ratio_mel"] == music["frame_change_ratio"]  # the same log-mels given as both spaces
    assert set(music) == {"loudness_corr", "quiet_lift_lu", "chroma_corr", "frame_change_db", "content_frame_change_db",
                          "style_frame_change_db", "frame_change_ratio", "frame_change_ratio_mel"}  # fmt: skip
