"""The pieces of librosa (and resemblyzer's use of it) and of pyloudnorm that the jobs compute themselves, so that
the evaluate job imports neither librosa's numba kernels nor scipy.signal: each bit-identical to the library's own
result or equal within float rounding, and the measurements of a speech output made without importing either."""

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from tests.test_options import heavy_modules_after
from workflow_scripts.audio.audio_io import resample
from workflow_scripts.audio.conventions import CONVENTIONS
from workflow_scripts.audio.filterbank import hann_window, mel_filterbank
from workflow_scripts.audio.pitch import PITCH_BINS, _transition, viterbi
from workflow_scripts.metrics.families import speaker
from workflow_scripts.metrics.families.loudness import K_WEIGHTING, LOUDNESS_RANGE_LU, biquad, loudness_contour

FILTERBANKS = [
    *[(c.sample_rate, c.n_fft, c.n_mels, c.fmin, c.fmax) for c in CONVENTIONS.values()],
    (16000, 400, 40, 0.0, 8000.0),  # GE2E's (resemblyzer)
    (44100, 2048, 128, 30.0, 16000.0),
]


@pytest.mark.parametrize(("rate", "n_fft", "n_mels", "fmin", "fmax"), FILTERBANKS)
def test_mel_filterbank_is_librosas_bit_for_bit(rate, n_fft, n_mels, fmin, fmax):
    expected = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert np.array_equal(mel_filterbank(rate, n_fft, n_mels, fmin, fmax), expected)


@pytest.mark.parametrize("length", [400, 1024, 1023])
def test_hann_window_is_scipys_periodic_window(length):
    assert np.array_equal(hann_window(length), scipy.signal.get_window("hann", length, fftbins=True))


@pytest.mark.parametrize(("orig", "target"), [(22050, 16000), (16000, 22050), (44100, 22050), (22050, 24000)])
@pytest.mark.parametrize("shape", [(22051,), (2, 9999), (1, 5)])
def test_resample_is_librosas_soxr_hq_bit_for_bit(orig, target, shape):
    audio = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.3
    expected = librosa.resample(audio, orig_sr=orig, target_sr=target, res_type="soxr_hq")
    result = resample(audio, orig, target)
    assert result.dtype == np.float32 and np.array_equal(result, expected)


def test_resample_refuses_non_finite_audio_as_librosa_did():
    with pytest.raises(ValueError, match="not finite"):
        resample(np.array([0.0, np.nan, 0.0], dtype=np.float32), 22050, 16000)


@pytest.mark.parametrize("frames", [1, 2, 300])
def test_viterbi_path_is_librosas(frames):
    """CREPE-like inputs: a softmax over masked activations (zero probability outside the pitch range), a wandering
    peak and noise, under the decoder's banded transition matrix."""
    rng = np.random.default_rng(frames)
    peak = np.clip(180 + np.cumsum(rng.integers(-8, 9, frames)), 40, 300)
    logits = torch.from_numpy(rng.standard_normal((frames, PITCH_BINS)) * 2.0 - 0.02 * (
        np.arange(PITCH_BINS)[None, :] - peak[:, None]) ** 2).float()  # fmt: skip
    logits[:, :20] = -float("inf")
    probabilities = torch.softmax(logits, dim=1).T.numpy()
    expected = librosa.sequence.viterbi(probabilities, _transition())
    assert np.array_equal(viterbi(probabilities, _transition()), expected)


def test_speaker_mel_is_resemblyzers():
    from resemblyzer.audio import wav_to_mel_spectrogram

    signal = np.random.default_rng(1).standard_normal(16000 * 3 + 77).astype(np.float32) * 0.1
    expected = wav_to_mel_spectrogram(signal)
    result = speaker.speaker_mel(signal)
    assert result.shape == expected.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("rate", [16000, 22050])
def test_speaker_embedding_is_resemblyzers(rate):
    from resemblyzer import preprocess_wav

    t = np.arange(rate * 3) / rate
    voice = (np.sin(2 * np.pi * 140 * t * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) * (0.5 + 0.5 * np.sin(2 * np.pi * t))
             + 0.01 * np.random.default_rng(2).standard_normal(len(t))).astype(np.float32)  # fmt: skip
    encoder = speaker._speaker_encoder(torch.device("cpu"))
    expected = encoder.embed_utterance(preprocess_wav(voice, source_sr=rate))
    np.testing.assert_allclose(speaker.speaker_embedding(voice, rate), expected, rtol=0, atol=1e-6)


def test_speech_measurements_import_neither_numba_nor_scipy_signal(tmp_path):
    """What the evaluate job computes for speech (every model, resampling, mels, F0, loudness) loads neither numba
    nor scipy.signal: librosa's kernels cost about 0.9 s of CPU per job, scipy.signal 0.7 s."""
    code = (
        "import sys, numpy as np\n"
        "from workflow_scripts.metrics import metrics\n"
        "from workflow_scripts.metrics.families import loudness, naturalness, speaker\n"
        "from workflow_scripts.audio.pitch import f0_track\n"
        "from workflow_scripts.audio.conventions import EVALUATION\n"
        "rng = np.random.default_rng(0)\n"
        "clip = (rng.standard_normal(22050) * 0.1).astype(np.float32)\n"
        "metrics.evaluation_db(clip, 22050)\n"
        "f0_track(clip, 22050, EVALUATION.frame_times(20))\n"
        "speaker.speaker_embedding(clip, 22050)\n"
        "naturalness.dnsmos(clip, 22050)\n"
        "loudness.loudness_agreement((clip, 22050), (clip, 22050))\n"
        "assert 'numba' not in sys.modules and 'scipy.signal' not in sys.modules, 'numba or scipy.signal imported'\n"
    )
    assert "torch" in heavy_modules_after(code, tmp_path)


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_k_weighting_coefficients_are_pyloudnorms(rate):
    from pyloudnorm import Meter

    for stage, (name, reference) in zip(K_WEIGHTING, Meter(rate)._filters.items(), strict=True):
        b, a = biquad(*stage, rate)
        assert stage[0] == name and np.array_equal(b, reference.b) and np.array_equal(a, reference.a)


@pytest.mark.parametrize("rate", [16000, 22050, 48000])
def test_loudness_contour_is_pyloudnorms_within_rounding(rate):
    """Noise with a silent lead-in and a decay, a tone, and a clip shorter than one block: every block's loudness
    equal to pyloudnorm's recursive filtering and block sums within 1e-9 LU."""
    from pyloudnorm import Meter

    rng = np.random.default_rng(rate)
    t = np.arange(int(3.3 * rate)) / rate
    noise = rng.standard_normal(len(t)) * np.exp(-t) * (t > 0.5)
    for signal in (noise, 0.5 * np.sin(2 * np.pi * 997 * t), noise[: rate // 5]):
        padded = np.pad(signal, (0, max(int(np.ceil(0.4 * rate)) - len(signal), 0)))
        meter = Meter(rate, block_size=0.4, overlap=0.75)
        with np.errstate(divide="ignore"):
            meter.integrated_loudness(padded)
        expected = np.maximum(np.asarray(meter.blockwise_loudness), -200.0)
        expected = np.maximum(expected, expected.max() - LOUDNESS_RANGE_LU)
        np.testing.assert_allclose(loudness_contour(signal, rate), expected, rtol=0, atol=1e-9)
