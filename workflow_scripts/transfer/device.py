"""The torch device a job computes on, from the config's ``device``, and the process-wide settings it runs under."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from workflow_scripts.pipeline.errors import InputError

# cuBLAS needs a fixed workspace to give the same results on every call (NVIDIA's cuBLAS docs, "Results
# reproducibility"); torch refuses deterministic cuBLAS products without one. ":4096:8" is the larger of the two
# documented settings: 8 buffers of 4 MiB, negligible beside the models.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` fails clearly when no GPU is visible."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("config device: cuda, but no CUDA device is visible; set device: auto or cpu")
    return torch.device(name)


def job_device(settings: Mapping[str, Any]) -> torch.device:
    """The device of a job from its rule's ``device`` params (``{"name": auto|cpu|cuda, "deterministic": bool}``),
    with :func:`configure_cuda` applied when it is a GPU. Call it once, before the job's first tensor."""
    device = resolve_device(settings["name"])
    if device.type == "cuda":
        configure_cuda(settings["deterministic"])
    return device


def configure_cuda(deterministic: bool) -> None:
    """Process-wide CUDA settings of a job; they take effect for CUDA work started after the call.

    - float32 means IEEE float32 on the GPU too: TF32 tensor-core products are off for matrix products and
      cuDNN convolutions (cuDNN's default is TF32), so GPU and CPU results differ by float32 rounding only. The
      fast path on a GPU is ``transfer.precision: bfloat16``.
    - ``deterministic``: deterministic algorithms everywhere torch has them, strictly
      (``torch.use_deterministic_algorithms(True)``: an operation without one raises instead of warning, and
      flash / memory-efficient attention, which only warn-free strict mode makes deterministic, use their
      deterministic backward), cuDNN's benchmark autotuner off, and the fixed cuBLAS workspace those need.
      Two runs on the same GPU model, driver and torch then give bit-identical results (docs/gpu.md says which
      outputs and why).
    """
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
    if deterministic:
        # read when cuBLAS creates its handle, the first product on the device: before any CUDA work
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)
