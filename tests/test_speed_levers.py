"""Speed levers of the transfer: bfloat16 precision, torch.compile, and reading losses from the device once.

The bfloat16 tolerances below were measured on the development CPU (AVX512-BF16) with these signals and are stated
with a margin; docs/gpu.md lists the measured values.
"""

import dataclasses
import itertools

import numpy as np
import pytest
import torch
from conftest import gatys_pair, make_workdir, tiny_config

from workflow_scripts.audio.conventions import HIFIGAN
from workflow_scripts.pipeline.errors import ConfigError
from workflow_scripts.pipeline.options import MatchingOptions, TransferOptions
from workflow_scripts.pipeline.settings import load_pipeline
from workflow_scripts.transfer import matching
from workflow_scripts.transfer.backbones import VGG19, RandomCNN, ResNet50, ViTB16
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.transfer.style_statistics import style_targets

# bfloat16 against float32 at one point near the content: relative difference of the total loss and cosine of the
# gradients. Measured (120 frames): random_cnn 4e-6 / 0.99999, vgg19 1.0e-3 / 0.972, resnet50 3.4e-3 / 0.978,
# vit_b_16 3.9e-4 / 0.99999. Random-weight VGG-19 and ResNet-50 are deep enough to amplify the rounding.
BF16_TOTAL_RELATIVE = 1e-2
BF16_GRADIENT_COSINE = 0.95


@pytest.mark.parametrize("kind", [RandomCNN, VGG19, ResNet50, ViTB16], ids=["random_cnn", "vgg19", "resnet50", "vit"])
def test_bfloat16_objective_and_gradient_agree_with_float32(kind, melody_and_style, device):
    content, style = (torch.from_numpy(mel).to(device) for mel in melody_and_style)
    backbone = kind(kind.Options(), HIFIGAN.n_mels).to(device)
    targets = style_targets(backbone, style)
    point = content + 0.05 * torch.rand(content.shape, generator=torch.Generator().manual_seed(0)).to(device)
    values = {}
    for precision in ("float32", "bfloat16"):
        objective = Objective(backbone, content, targets, FeatureExtractor(backbone, precision))
        x = point.clone().requires_grad_(True)
        total = objective(x)[0]
        assert total.dtype == torch.float32  # losses stay float32 whatever the precision
        (gradient,) = torch.autograd.grad(total, x)
        values[precision] = (float(total.detach()), gradient.flatten())
    (total32, gradient32), (total16, gradient16) = values["float32"], values["bfloat16"]
    assert abs(total16 - total32) / total32 < BF16_TOTAL_RELATIVE
    assert float(torch.nn.functional.cosine_similarity(gradient32, gradient16, dim=0)) > BF16_GRADIENT_COSINE
    assert not torch.equal(gradient32, gradient16)  # bfloat16 really ran


def test_bfloat16_gatys_reaches_the_float32_losses_and_its_line_search_sees_one_function(melody_and_style, device):
    content, style = melody_and_style
    backbone = RandomCNN(RandomCNN.Options(), HIFIGAN.n_mels).to(device)
    targets = style_targets(backbone, torch.from_numpy(style).to(device))
    options = TransferOptions(method="gatys", iterations=20, tolerance=0)
    results, snapshots = {}, []
    for precision in ("float32", "bfloat16"):
        on_step = (lambda row, mel: snapshots.append((row, mel.clone()))) if precision == "bfloat16" else None
        lever = dataclasses.replace(options, precision=precision)
        results[precision] = gatys_pair(content, targets, backbone, lever, device, False, on_step)
    final32, final16 = results["float32"].final, results["bfloat16"].final
    # measured: total 1.0203 (float32) and 1.0224 (bfloat16), 0.2 %; mean |difference| of the mels 0.07 dB
    assert final16["total"] == pytest.approx(final32["total"], rel=0.01)
    assert 100 * np.abs(results["float32"].unit_mel - results["bfloat16"].unit_mel).mean() < 0.5
    # strong-Wolfe L-BFGS only accepts decreasing steps: true when every evaluation computes the same function
    totals = [row["total"] for row in results["bfloat16"].history]
    assert all(later <= earlier for earlier, later in itertools.pairwise(totals))
    # and the history holds that function's values at each step's mel
    objective = Objective(
        backbone, torch.from_numpy(content).to(device), targets, FeatureExtractor(backbone, "bfloat16")
    )
    for row, mel in snapshots:
        with torch.no_grad():
            assert row["total"] == pytest.approx(float(objective(mel)[0]), rel=1e-6)


def test_bfloat16_matching_stays_within_a_decibel_of_float32(melody_and_style, device):
    content, style = (torch.from_numpy(mel).to(device) for mel in melody_and_style)
    content_f0 = np.full(content.shape[1], 200.0, np.float32)
    style_f0 = np.full(style.shape[1], 330.0, np.float32)
    backbone = RandomCNN(RandomCNN.Options(), HIFIGAN.n_mels).to(device)
    outputs = {precision: matching.feature_matching(content, style, content_f0, style_f0, backbone, HIFIGAN,
                                                    MatchingOptions(), precision)
               for precision in ("float32", "bfloat16")}  # fmt: skip
    difference_db = 100 * (outputs["float32"] - outputs["bfloat16"]).abs()
    # measured: mean 0.21 dB, 95th percentile 0.86 dB (near-ties among similarities pick other style frames)
    assert float(difference_db.mean()) < 0.5 and float(difference_db.quantile(0.95)) < 2.0
    assert float(difference_db.max()) > 0  # bfloat16 really ran


def test_losses_read_from_the_device_once_give_the_per_step_history(melody_and_style, device):
    """Without early stopping or on_step, losses are read back at the end: the same rows as reading every step."""
    content, style = melody_and_style
    backbone = RandomCNN(RandomCNN.Options(filters=256, width=5), HIFIGAN.n_mels)
    options = TransferOptions(method="gatys", iterations=6, tolerance=0)
    deferred = gatys_pair(content, style, backbone, options, device, progress=False)
    rows = []
    each_step = gatys_pair(content, style, backbone, options, device, progress=False,
                               on_step=lambda row, mel: rows.append(row))  # fmt: skip
    without_seconds = [[{k: v for k, v in row.items() if k != "seconds"} for row in run.history]
                       for run in (deferred, each_step)]  # fmt: skip
    assert without_seconds[0] == without_seconds[1] and rows == each_step.history
    np.testing.assert_array_equal(deferred.unit_mel, each_step.unit_mel)


def test_a_non_finite_loss_still_fails_when_losses_are_read_at_the_end(melody_and_style, device):
    content, style = melody_and_style
    backbone = RandomCNN(RandomCNN.Options(filters=64, width=3), HIFIGAN.n_mels)
    options = TransferOptions(method="gatys", optimizer="adam", learning_rate=1e30, iterations=3, tolerance=0)
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at step"):
        gatys_pair(content, style, backbone, options, device, progress=False)


@pytest.mark.slow
def test_compiled_backbone_gives_the_eager_result(device):
    """torch.compile of the backbone forward (about half a minute of compilation on the 2-core machine)."""
    generator = torch.Generator().manual_seed(0)
    content, style = (torch.rand(80, frames, generator=generator).numpy() for frames in (60, 50))
    backbone = RandomCNN(RandomCNN.Options(filters=128, width=5), HIFIGAN.n_mels).to(device)
    targets = style_targets(backbone, torch.from_numpy(style).to(device))
    options = TransferOptions(method="gatys", iterations=5, tolerance=0)
    eager = gatys_pair(content, targets, backbone, options, device, progress=False)
    compiled = gatys_pair(content, targets, backbone, dataclasses.replace(options, compile=True), device,
                              progress=False)  # fmt: skip
    # measured on CPU: bit-identical; fused kernels may round differently elsewhere
    np.testing.assert_allclose(compiled.unit_mel, eager.unit_mel, rtol=0, atol=1e-5)
    assert [row["total"] for row in compiled.history] == pytest.approx([row["total"] for row in eager.history],
                                                                       rel=1e-5)  # fmt: skip


def test_bfloat16_is_offered_on_a_gpu_only_for_the_backbones_it_speeds_up(tmp_path, monkeypatch):
    """On the H200 bfloat16 was slower than float32 for random_cnn, resnet50 and vit_b_16 (docs/gpu.md); on the CPU
    it was faster for every backbone (make bench gpu's CPU fallback)."""
    monkeypatch.chdir(make_workdir(tmp_path, tiny_config()))
    config = tiny_config(transfer={"precision": "bfloat16"}, backbones={"vgg19": {}, "random_cnn": {}}, device="cuda")
    with pytest.raises(ConfigError, match=r"bfloat16 is offered on a GPU for vgg19 only .* random_cnn; .* float32"):
        load_pipeline(config)
    assert load_pipeline({**config, "backbones": {"vgg19": {}}}).transfer.precision == "bfloat16"
    assert load_pipeline({**config, "device": "cpu"}).transfer.precision == "bfloat16"
