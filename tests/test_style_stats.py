"""Style statistics are computed once per (style, backbone, convention) and reused by every pair."""

import re

import pytest
import torch
from conftest import make_workdir, snakemake, tiny_config

from workflow_scripts.transfer.backbones import RandomCNN
from workflow_scripts.transfer.losses import GramTarget
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.style_statistics import load_style_targets, save_style_targets, style_targets


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """``{rule: jobs}`` from the job-stats table of ``snakemake -n``."""
    table = dry_run_stdout.split("Job stats:", 1)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.MULTILINE)}


def test_dry_run_computes_style_statistics_once_per_style(tmp_path):
    config = tiny_config(
        clips=[
            *({"id": f"c{i}", "synth": "plucked_melody", "role": "content"} for i in range(3)),
            *({"id": f"s{i}", "synth": "bowed_tone", "role": "style"} for i in range(2)),
        ],
        backbones={"random_cnn": {"filters": 8}, "vgg19": {}},
        vocoders={"griffinlim": {}, "gl_wavenet": {"type": "griffinlim", "convention": "wavenet"}},
    )
    workdir = make_workdir(tmp_path, config)
    counts = job_counts(snakemake(workdir, "--dry-run", "--quiet", "rules").stdout)
    contents, styles, backbones, conventions = 3, 2, 2, 2
    assert counts["transfer"] == contents * styles * backbones * conventions
    assert counts["style_stats"] == styles * backbones * conventions  # not contents x styles x ...


def test_a_missing_imagenet_file_stops_before_any_job(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))  # an empty torch hub cache
    workdir = make_workdir(tmp_path, tiny_config(backbones={"vgg19": {"weights": "imagenet"}}))
    process = snakemake(workdir, check=False)
    assert process.returncode != 0
    assert "config: backbones.vgg19.weights: imagenet needs vgg19-dcbb9e9d.pth" in process.stderr
    assert not (workdir / "results").exists()


@pytest.mark.parametrize("style_frames", [20, 500])  # fewer / more frames than channels: features / Gram stored
def test_saved_targets_give_the_same_loss_and_store_the_smaller_form(tmp_path, style_frames, device):
    backbone = RandomCNN(RandomCNN.Options(filters=64, width=3), n_mels=80).to(device)
    style, content = torch.rand(80, style_frames, device=device), torch.rand(80, 30, device=device)
    targets = style_targets(backbone, style)
    save_style_targets(tmp_path / "s.pt", targets)
    stored = torch.load(tmp_path / "s.pt", weights_only=True)["relu"]
    assert set(stored) == ({"features"} if style_frames < 64 else {"gram", "frames"})
    assert {value.device.type for value in stored.values()} == {"cpu"}  # the file holds CPU tensors
    loaded = load_style_targets(tmp_path / "s.pt", backbone, device)
    assert {value.device.type for value in loaded["relu"].to_state().values()} == {device.type}
    fresh, reloaded = (Objective(backbone, content, t)(content + 0.1) for t in (targets, loaded))
    torch.testing.assert_close(reloaded, fresh, rtol=1e-6, atol=0)
    assert isinstance(loaded["relu"], GramTarget)
