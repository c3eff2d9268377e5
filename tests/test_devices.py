"""Devices: the test suite's device option, the job runtime's CUDA settings, and library code that keeps its tensors
on the device of its inputs.

Without a GPU the last point is checked on PyTorch's meta device: tensors there have shapes but no data, and an
operation that mixes in a tensor made on the CPU fails, as it would beside CUDA tensors. Code that must read values
(optimisers, decoders) cannot run there; the whole suite under ``--device cuda`` covers it.
"""

import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO

from workflow_scripts.audio import pitch
from workflow_scripts.audio.conventions import HIFIGAN, mel_to_magnitude
from workflow_scripts.pipeline.errors import InputError
from workflow_scripts.pipeline.options import MatchingOptions, TransferOptions
from workflow_scripts.transfer import matching
from workflow_scripts.transfer.backbones import RandomCNN
from workflow_scripts.transfer.device import CUBLAS_WORKSPACE_CONFIG, configure_cuda, job_device, resolve_device
from workflow_scripts.transfer.dictionary import pitch_shift, style_dictionary
from workflow_scripts.transfer.gatys import initial_mel
from workflow_scripts.transfer.losses import GramTarget
from workflow_scripts.transfer.objective import Objective
from workflow_scripts.transfer.precision import FeatureExtractor
from workflow_scripts.vocoders.griffinlim import griffin_lim
from workflow_scripts.vocoders.hifigan import Generator, bundled_config

META = torch.device("meta")


def on_meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device=META)


@pytest.mark.parametrize(
    "compute",
    [
        pytest.param(lambda: griffin_lim(on_meta(513, 20), HIFIGAN, iterations=2), id="griffin_lim"),
        pytest.param(lambda: mel_to_magnitude(on_meta(80, 20), HIFIGAN, iterations=2), id="mel_to_magnitude"),
        pytest.param(lambda: pitch_shift(on_meta(80, 20), HIFIGAN, [0, 3]), id="pitch_shift"),
        pytest.param(lambda: matching.diagonal_mean(on_meta(10, 40), 2, 3), id="diagonal_mean"),
        pytest.param(lambda: matching.candidates(on_meta(10), on_meta(40), on_meta(40).bool(), 50.0), id="candidates"),
        pytest.param(
            lambda: pitch.Crepe().to(META)(pitch.frame_windows(on_meta(16000), torch.arange(0, 16000, 160).to(META))),
            id="crepe",
        ),
        pytest.param(lambda: Generator(bundled_config()).to(META)(on_meta(1, 80, 4)), id="hifigan"),
        pytest.param(
            lambda: FeatureExtractor(RandomCNN(RandomCNN.Options(filters=8, width=3), 80).to(META)).many(
                [on_meta(80, 20), on_meta(80, 30)]
            )[0]["relu"],
            id="random_cnn_batch",
        ),
        pytest.param(lambda: initial_mel(on_meta(80, 20), TransferOptions(init="noise")), id="noise_init"),
    ],
)
def test_library_code_keeps_its_tensors_on_the_inputs_device(compute):
    assert compute().device == META


def small_meta_cnn() -> RandomCNN:
    return RandomCNN(RandomCNN.Options(filters=8, width=3), 80).to(META)


@pytest.mark.parametrize("style_frames", [4, 40], ids=["features_kept", "gram_kept"])
def test_gram_targets_built_on_the_cpu_are_moved_to_the_device_asked_for(style_frames):
    """GramTarget keeps the style's features (fewer frames than channels) or its Gram matrix: either moves."""
    stored = GramTarget.from_state(GramTarget(torch.rand(8, style_frames)).to_state())  # as a job loads it
    for target in (GramTarget(torch.rand(8, style_frames)), stored):
        moved = target.to(META)
        held = [moved._gram] + ([] if moved.style is None else [moved.style])
        assert {tensor.device for tensor in held} == {META} and target._gram.device.type == "cpu"
        assert moved.loss(on_meta(8, 30)).device == META
        assert target.to("cpu") is target  # nothing copied when already there


def test_an_objective_moves_targets_built_on_the_cpu_to_the_contents_device():
    """The record's failure on the H200: a knn transfer on device="cuda" with style targets computed on the CPU
    raised "Expected all tensors to be on the same device" in GramTarget.loss. Every transfer method (for a pair or
    a batch, its reported losses included) computes its losses through an Objective."""
    backbone = small_meta_cnn()
    cpu_targets = {name: GramTarget(torch.rand(8, 50)) for name in backbone.style_layers}
    objective = Objective(backbone, on_meta(80, 20), cpu_targets)
    assert {target._gram.device for target in objective.style_targets.values()} == {META}
    assert all(loss.device == META for loss in objective(on_meta(80, 20)))
    with pytest.raises(RuntimeError, match="device"):  # what the move prevents
        next(iter(cpu_targets.values())).loss(on_meta(8, 20))


def test_a_style_dictionary_built_on_the_cpu_is_moved_to_the_contents_device():
    backbone = RandomCNN(RandomCNN.Options(filters=8, width=3), 80)
    style = torch.rand(80, 30) * 0.8
    options = MatchingOptions(max_shift=1)
    dictionary = style_dictionary(style, torch.full((30,), 200.0).numpy(), backbone, HIFIGAN, options)
    moved = dictionary.to(META)
    tensors = [value for value in vars(moved).values() if isinstance(value, torch.Tensor)]
    assert len(tensors) >= 5 and {tensor.device for tensor in tensors} == {META}
    assert moved.median == dictionary.median


def test_the_meta_check_catches_a_tensor_made_on_the_cpu():
    with pytest.raises(RuntimeError, match="device"):
        on_meta(80, 20) + torch.ones(80, 1)


def test_the_crepe_model_is_cached_per_device():
    cpu = pitch.load_crepe("cpu")
    assert pitch.load_crepe(torch.device("cpu")) is cpu  # one model per device, however it is named
    meta = pitch.load_crepe(META)
    assert next(meta.parameters()).device == META and next(cpu.parameters()).device.type == "cpu"


@pytest.fixture
def restored_torch_settings():
    """configure_cuda changes process-wide settings: put them back for the tests that follow."""
    saved = (
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    yield
    matmul, conv, benchmark, deterministic, algorithms, warn_only, workspace = saved
    torch.backends.cuda.matmul.fp32_precision = matmul
    torch.backends.cudnn.conv.fp32_precision = conv
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = benchmark, deterministic
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    if workspace is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace


@pytest.mark.parametrize("deterministic", [True, False])
def test_configure_cuda_sets_ieee_float32_and_determinism(restored_torch_settings, monkeypatch, deterministic):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    configure_cuda(deterministic)
    assert torch.backends.cuda.matmul.fp32_precision == "ieee" and torch.backends.cudnn.conv.fp32_precision == "ieee"
    assert torch.are_deterministic_algorithms_enabled() is deterministic
    if deterministic:
        assert not torch.is_deterministic_algorithms_warn_only_enabled()  # strict: SDPA's backward too
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE_CONFIG
    else:
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_a_cpu_job_leaves_the_process_settings_alone(restored_torch_settings):
    before = torch.backends.cudnn.conv.fp32_precision, torch.are_deterministic_algorithms_enabled()
    assert job_device({"name": "cpu", "deterministic": True}) == torch.device("cpu")
    assert (torch.backends.cudnn.conv.fp32_precision, torch.are_deterministic_algorithms_enabled()) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_device_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(InputError, match="config device: cuda, but no CUDA device is visible"):
        resolve_device("cuda")


def run_suite(*arguments: str, variable: str) -> subprocess.CompletedProcess:
    """pytest on one small test module in a fresh process, with $STYLE_TRANSFER_TEST_DEVICE set to ``variable``."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/test_losses.py", *arguments]
    environment = dict(os.environ, STYLE_TRANSFER_TEST_DEVICE=variable)
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
@pytest.mark.parametrize(
    ("arguments", "variable"), [(["--device=cuda"], "cpu"), ([], "cuda")], ids=["option", "variable"]
)
def test_the_suite_refuses_cuda_without_a_gpu_at_start(arguments, variable):
    """Not a silent CPU run: pytest stops before collecting anything, with one line saying why."""
    process = run_suite(*arguments, variable=variable)
    assert process.returncode == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "no CUDA device" in errors[0] and "--device cpu" in errors[0], process.stderr
    assert "passed" not in process.stdout


def test_the_option_wins_over_the_variable_and_a_bad_variable_is_refused():
    process = run_suite("--device=cpu", "-k", "auto_form", variable="cuda")
    assert process.returncode == 0 and "device: cpu" in process.stdout, process.stdout + process.stderr
    process = run_suite(variable="gpu")
    assert process.returncode == pytest.ExitCode.USAGE_ERROR and "STYLE_TRANSFER_TEST_DEVICE='gpu'" in process.stderr
