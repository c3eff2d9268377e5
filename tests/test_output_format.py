"""The sample format of rendered WAVs: 16-bit PCM by default, 24-bit or float on request (config output_format)."""

import shutil

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import snakemake

pytestmark = pytest.mark.slow

OUTPUT = "results/audio/griffinlim/random_cnn/tone/chirp.wav"


def test_outputs_are_16_bit_pcm_by_default_and_float_or_24_bit_on_request(built_workdir, tmp_path):
    default = sf.info(built_workdir / OUTPUT)
    assert (default.format, default.subtype) == ("WAV", "PCM_16")
    assert sf.info(built_workdir / "results/trimmed/tone.wav").subtype == "FLOAT"  # intermediates stay float
    pcm16, _ = sf.read(built_workdir / OUTPUT, dtype="float32")

    workdir = tmp_path / "formats"
    shutil.copytree(built_workdir, workdir)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    for name, subtype, step in (("float", "FLOAT", 2.0**-15), ("pcm24", "PCM_24", 2.0**-15)):
        (workdir / "config.yaml").write_text(yaml.safe_dump({**config, "output_format": name}))
        snakemake(workdir, OUTPUT)
        assert sf.info(workdir / OUTPUT).subtype == subtype
        audio, _ = sf.read(workdir / OUTPUT, dtype="float32")
        # the same rendering, only quantised differently: within one 16-bit step
        assert np.max(np.abs(audio - pcm16)) <= step
