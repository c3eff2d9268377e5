"""r9y9's ``wavenet_vocoder`` WaveNet with the hyper-parameters of the 20180510 LJSpeech mixture-of-logistics
checkpoint (:data:`R9Y9_20180510`): built, and loaded from a checkpoint file (a user download, docs/vocoders.md).
Generated fast by :mod:`workflow_scripts.vocoders.wavenet`."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
from wavenet_vocoder import WaveNet

from workflow_scripts.pipeline.errors import InputError

# presets/ljspeech_mixture.json of r9y9/wavenet_vocoder at the 20180510 checkpoint (raw audio, 10 logistics).
R9Y9_20180510 = {
    "out_channels": 30,
    "layers": 24,
    "stacks": 4,
    "residual_channels": 512,
    "gate_channels": 512,
    "skip_out_channels": 256,
    "kernel_size": 3,
    "dropout": 0.05,
    "cin_channels": 80,
    "gin_channels": -1,
    "weight_normalization": True,
    "upsample_conditional_features": True,
    "upsample_scales": [4, 4, 4, 4],
    "freq_axis_kernel_size": 3,
    "scalar_input": True,
    "legacy": True,
}


def build_wavenet(**overrides: object) -> WaveNet:
    """``wavenet_vocoder.WaveNet`` with r9y9's 20180510 hyper-parameters, any of them replaced by ``overrides``."""
    with warnings.catch_warnings():
        # wavenet_vocoder uses torch.nn.utils.weight_norm, deprecated but working; its checkpoints need its keys
        warnings.filterwarnings("ignore", "`torch.nn.utils.weight_norm` is deprecated", FutureWarning)
        return WaveNet(**{**R9Y9_20180510, **overrides})


def load_wavenet(path: str | Path, device: torch.device | str = "cpu", **overrides: object) -> WaveNet:
    """The model with the weights in ``path``, weight norm removed, in eval mode on ``device``.

    ``path`` holds r9y9's checkpoint layout (``{"state_dict": ..., "global_step": ...}``; the ``_ema`` file keeps
    the averaged weights there) or a bare state dict.
    """
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: cannot read WaveNet checkpoint ({detail}); check vocoders.*.checkpoint") from None
    state = saved["state_dict"] if isinstance(saved, dict) and "state_dict" in saved else saved
    model = build_wavenet(**overrides)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise InputError(
            f"{path}: weights do not fit r9y9's 20180510 WaveNet ({str(error).splitlines()[-1].strip()}); "
            "use the 20180510_mixture_lj checkpoint or a state dict of the same architecture"
        ) from None
    model.make_generation_fast_()
    return model.eval().requires_grad_(False).to(device)
