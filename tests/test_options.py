"""The light configuration modules: they agree with the heavy modules that run the jobs, and checking a config or
planning the DAG never imports torch, torchvision or librosa."""

import json
import subprocess
import sys

import pytest
import torch
import torchvision
from conftest import REPO, make_workdir, tiny_config

from workflow_scripts.audio.conventions import CONVENTIONS, EVALUATION
from workflow_scripts.pipeline.backbone_options import BACKBONE_OPTIONS, torch_hub_dir
from workflow_scripts.pipeline.options import CONVENTION_SAMPLE_RATES, EVALUATION_CONVENTION, TRANSFER_METHODS
from workflow_scripts.pipeline.vocoder_options import VOCODER_OPTIONS
from workflow_scripts.transfer.backbones import BACKBONES
from workflow_scripts.transfer.methods import METHODS
from workflow_scripts.vocoders.registry import VOCODERS

HEAVY = ("torch", "torchvision", "librosa")


def heavy_modules_after(code: str, cwd) -> list[str]:
    """The heavy packages in ``sys.modules`` of a fresh interpreter once ``code`` has run (even if it exits)."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr))\n"
        + code
    )
    process = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stderr.strip().splitlines()[-1])


def test_loading_a_config_imports_nothing_heavy(tmp_path):
    make_workdir(tmp_path, tiny_config(backbones={"random_cnn": {}, "vgg19": {}}, vocoders={"griffinlim": {}}))
    code = (
        "import yaml\n"
        "from workflow_scripts.pipeline.settings import load_pipeline\n"
        "from workflow_scripts.pipeline.runtime import write_failures_table\n"
        "pipeline = load_pipeline(yaml.safe_load(open('config.yaml')))\n"
        "assert set(pipeline.backbones) == {'random_cnn', 'vgg19'}\n"
    )
    assert heavy_modules_after(code, tmp_path) == []


def test_dry_run_imports_nothing_heavy(tmp_path):
    make_workdir(tmp_path, tiny_config())
    argv = ["snakemake", "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    code = f"import runpy\nsys.argv = {argv!r}\nrunpy.run_module('snakemake', run_name='__main__')\n"
    assert heavy_modules_after(code, tmp_path) == []


def test_the_probe_sees_heavy_imports(tmp_path):
    assert heavy_modules_after("import librosa", tmp_path) == ["librosa"]


@pytest.mark.parametrize(
    "environment",
    [{"TORCH_HOME": "{tmp}/th"}, {"XDG_CACHE_HOME": "{tmp}/xdg"}, {"HOME": "{tmp}/home"}, {"TORCH_HOME": "~/th"}],
    ids=["TORCH_HOME", "XDG_CACHE_HOME", "default", "user-relative"],
)
def test_torch_hub_dir_is_torchs(environment, tmp_path, monkeypatch):
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    assert str(torch_hub_dir()) == torch.hub.get_dir()


def test_registries_and_conventions_agree_with_the_modules_that_run_them():
    assert {kind: backbone.Options for kind, backbone in BACKBONES.items()} == BACKBONE_OPTIONS
    assert {kind: vocoder.Options for kind, vocoder in VOCODERS.items()} == VOCODER_OPTIONS
    assert list(METHODS) == list(TRANSFER_METHODS)
    assert {name: c.sample_rate for name, c in CONVENTIONS.items()} == CONVENTION_SAMPLE_RATES
    assert EVALUATION.name == EVALUATION_CONVENTION


@pytest.mark.parametrize(
    ("kind", "weights"),
    [
        ("vgg19", torchvision.models.VGG19_Weights.IMAGENET1K_V1),
        ("resnet50", torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
        ("vit_b_16", torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1),
    ],
)
def test_imagenet_urls_are_torchvisions_registry_entries(kind, weights):
    assert BACKBONE_OPTIONS[kind].imagenet_url == weights.url
