"""Evaluation metrics: known answers on identical signals, silence against noise and time-shifted copies."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, harmonic, noise_bursts, silence

from workflow_scripts.audio.conventions import EVALUATION, HIFIGAN, WAVENET
from workflow_scripts.metrics.metrics import (
    SILENCE_DBFS,
    SPECTRAL_CONVERGENCE_FLOOR_DB,
    audio_checks,
    content_preservation,
    evaluation_db,
    evaluation_frame_rate,
    pearson,
    reconstruction_consistency,
    spectral_convergence_db,
    style_match,
    texture_distance,
    texture_statistics,
)
from workflow_scripts.metrics.metrics_table import write_row
from workflow_scripts.report.spectrogram_image import (
    LABEL_HEIGHT,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    PLOT_WIDTH,
    ROWS_PER_MEL,
    TITLE_HEIGHT,
    magma,
    spectrogram_panels,
)

SR = EVALUATION.sample_rate
RATE = evaluation_frame_rate()


def test_pearson_known_answers():
    ramp = np.arange(10.0)
    assert pearson(ramp, 3 * ramp + 7) == pytest.approx(1.0)
    assert pearson(ramp, -ramp) == pytest.approx(-1.0)
    assert pearson(ramp, np.ones(10)) == 0.0  # constant: no shared structure
    assert pearson(ramp, np.concatenate([ramp, [100.0, -5.0]])) == pytest.approx(1.0)  # common frames only


def test_identical_signals_preserve_content_and_are_perfectly_consistent():
    tone = evaluation_db(harmonic(1.0, SR, vibrato=0.02) * np.hanning(SR), SR)
    scores = content_preservation(tone, tone)
    assert scores == pytest.approx({"envelope_corr": 1.0, "flux_corr": 1.0, "content_preservation": 1.0})
    assert texture_distance(texture_statistics(tone, RATE), texture_statistics(tone, RATE)) == 0.0
    mel = np.abs(np.random.default_rng(0).standard_normal((80, 50)))
    assert spectral_convergence_db(mel, mel) == SPECTRAL_CONVERGENCE_FLOOR_DB
    assert spectral_convergence_db(mel, 1.1 * mel) == pytest.approx(-20.0)  # a 10 % error


def test_silence_against_noise():
    noise = noise_bursts(1.0, SR)
    noise_db, silence_db = evaluation_db(noise, SR), evaluation_db(silence(1.0, SR), SR)
    assert content_preservation(noise_db, silence_db)["content_preservation"] == 0.0  # flat envelope
    mel = 10.0 ** (noise_db / 20.0)
    assert spectral_convergence_db(mel, np.zeros_like(mel)) == pytest.approx(0.0)  # error as large as the signal
    # a silent output carries none of the noise's texture: farther from it than any clip with level changes
    assert texture_distance(texture_statistics(silence_db, RATE), texture_statistics(noise_db, RATE)) > 5.0
    assert audio_checks(silence(0.1, SR)) == {"peak_dbfs": SILENCE_DBFS, "clipped_samples": 0, "nonfinite_samples": 0}


def test_time_shifted_copy_keeps_texture_but_loses_timing():
    bursts = noise_bursts(2.0, SR, seed=1)  # 0.1 s on, 0.1 s off
    original_db = evaluation_db(bursts, SR)
    shifted_db = evaluation_db(np.roll(bursts, int(0.1 * SR)), SR)  # on where it was off
    scores = content_preservation(original_db, shifted_db)
    assert scores["envelope_corr"] < -0.5 and scores["content_preservation"] < 0.0
    in_step = content_preservation(original_db, evaluation_db(np.roll(bursts, int(0.4 * SR)), SR))  # whole periods
    assert in_step["content_preservation"] > 0.99
    tone_db = evaluation_db(harmonic(2.0, SR), SR)
    # as content: the tone; as style: the bursts. Their shifted copy matches the style's texture almost exactly.
    assert style_match(tone_db, original_db, shifted_db, RATE) > 0.9
    assert style_match(tone_db, original_db, tone_db, RATE) == pytest.approx(0.0)  # unchanged content
    assert np.isnan(style_match(tone_db, tone_db, tone_db, RATE))  # content already has the style


def test_modulation_statistics_find_the_modulation_rate():
    t = np.arange(2 * SR) / SR
    tremolo = harmonic(2.0, SR) * (1.0 + 0.9 * np.sin(2 * np.pi * 6.0 * t)).astype(np.float32)
    modulation = texture_statistics(evaluation_db(tremolo, SR), RATE)["modulation"]
    assert modulation.shape == (EVALUATION.n_mels, 6)
    assert np.argmax(modulation.sum(axis=0)) == 3  # the 4-8 Hz octave


@pytest.mark.parametrize("convention", [HIFIGAN, WAVENET], ids=lambda c: c.name)
def test_reconstruction_consistency_of_the_analysed_audio_is_exact(convention):
    audio = harmonic(0.5, convention.sample_rate)
    features = convention.features(audio)
    assert reconstruction_consistency(features, audio, convention) == SPECTRAL_CONVERGENCE_FLOOR_DB
    assert reconstruction_consistency(features, 0.5 * audio, convention) > -10.0  # 6 dB quieter: a large error


def test_audio_checks_count_clipping_and_nan():
    audio = np.array([0.0, 0.5, -1.0, 1.2, np.nan, np.inf], dtype=np.float32)
    assert audio_checks(audio) == {"peak_dbfs": pytest.approx(20 * np.log10(1.2), abs=1e-3),
                                   "clipped_samples": 2, "nonfinite_samples": 2}  # fmt: skip


def test_job_usage_counts_from_process_start_and_peak_memory():
    """The *_job_s and *_max_rss_mb columns: a job that slept 0.5 s before its imports and held 300 MB then freed it."""
    code = (
        "import time; time.sleep(0.5)\n"
        "import json, numpy as np\n"
        "block = np.ones(300 * 2**20, dtype=np.uint8); del block\n"
        "from workflow_scripts.pipeline.runtime import job_usage\n"
        "print(json.dumps(job_usage()))\n"
    )
    usage = json.loads(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, check=True).stdout)
    assert 0.5 <= usage["job_s"] < 30
    assert 300 <= usage["max_rss_mb"] < 1000
    assert 0 < usage["cpu_s"] < usage["job_s"] * 4  # the sleep costs no CPU


def test_write_row_reads_back_as_the_row_pandas_wrote(tmp_path):
    """The evaluate job writes its row without pandas: what aggregate reads must not change."""
    pd = pytest.importorskip("pandas")
    row = {"content": "a b", "style": "s", "f0_corr": float("nan"), "steps": 3, "ratio": 0.1 + 0.2,
           "small": np.float32(1e-7), "flag": False, "missing": None, "tab": "x\ty"}  # fmt: skip
    write_row(tmp_path / "row.tsv", row)
    pd.DataFrame([row]).to_csv(tmp_path / "pandas.tsv", sep="\t", index=False)
    ours, theirs = (pd.read_csv(tmp_path / name, sep="\t") for name in ("row.tsv", "pandas.tsv"))
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours.loc[0, "ratio"] == 0.1 + 0.2  # floats round-trip exactly


def test_magma_fit_matches_matplotlib():
    matplotlib = pytest.importorskip("matplotlib")
    levels = np.linspace(0.0, 1.0, 256)
    reference = matplotlib.colormaps["magma"](levels)[:, :3] * 255.0
    assert np.abs(magma(levels).astype(float) - reference).max() <= 6.0  # 2 % of the colour range
    assert magma(np.array([-1.0, 2.0])).tolist() == magma(np.array([0.0, 1.0])).tolist()  # clipped


def test_spectrogram_panels_put_low_bands_at_the_bottom_on_one_scale(tmp_path):
    from PIL import Image

    loud_low = np.zeros((80, 100))
    loud_low[:10] = 90.0  # the 10 lowest bands loud, 90 dB above the quietest
    quiet = np.full((80, 50), 10.0)  # half as long and 80 dB down: the floor colour
    spectrogram_panels(tmp_path / "p.png", [("loud low", loud_low), ("quiet", quiet)], frame_rate=10.0, title="t")
    image = np.asarray(Image.open(tmp_path / "p.png").convert("RGB")).astype(int)
    first = TITLE_HEIGHT + LABEL_HEIGHT
    bottom_row, top_row = first + 80 * ROWS_PER_MEL - 2, first + 2
    column = MARGIN_LEFT + PLOT_WIDTH // 2
    assert image.shape[1] == MARGIN_LEFT + PLOT_WIDTH + MARGIN_RIGHT
    assert image[bottom_row, column].sum() > 600  # top of the scale: light yellow
    assert image[top_row, column].tolist() == magma(np.array([0.0])).tolist()[0]  # 90 dB down: black
    second = first + 80 * ROWS_PER_MEL + LABEL_HEIGHT
    assert image[second + 40, MARGIN_LEFT + PLOT_WIDTH // 4].tolist() == magma(np.array([0.0])).tolist()[0]
    assert image[second + 40, MARGIN_LEFT + 3 * PLOT_WIDTH // 4].tolist() == [255, 255, 255]  # shorter panel: blank
