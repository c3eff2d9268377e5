"""WaveNet vocoder: r9y9's ``wavenet_vocoder`` model, generated fast by running chunks of an utterance as a batch.

The model is ``wavenet_vocoder.WaveNet`` with the hyper-parameters of r9y9's 20180510 LJSpeech
mixture-of-logistics checkpoint (:mod:`workflow_scripts.vocoders.wavenet_checkpoint`). Its own
``incremental_forward`` generates one sample at a time with batch 1, which on a CPU is bound by reading the
~100 MB of weights per sample (about 93 samples/s). :class:`FastWaveNet` produces the same per-step computation
with the same weights, but:

- the utterance is cut into overlapping chunks that are generated side by side as a batch, so each weight read
  serves many samples (matrix-matrix instead of matrix-vector products); a chunk starts ``receptive_field`` samples
  early so its state is its own by the time its output is kept, and neighbours are cross-faded over ``fade``
  samples (:mod:`workflow_scripts.vocoders.chunking`);
- at most ``batch`` chunks run at once, each upsampling only the conditioning it needs, so memory does not grow
  with the utterance; every chunk samples from its own seeded stream, so the audio does not depend on ``batch``;
- each layer's dilated taps are one matrix over the concatenated past inputs, kept in one preallocated ring buffer
  for all layers; the conditioning projections of all layers are one matrix product per step; the legacy
  ``sqrt(0.5)`` skip scaling is folded into the skip weights, which are applied once per step for all layers;
- everything runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm
from wavenet_vocoder import WaveNet

from workflow_scripts.vocoders.chunking import place_chunk, plan_chunks, transposed_conv_reach

LOG_SCALE_MIN = math.log(1e-14)


def sample_mixture(params: torch.Tensor, uniforms: torch.Tensor, log_scale_min: float) -> torch.Tensor:
    """One sample per row from a mixture of logistics ``(batch, 3 * mixtures)`` (logits, means, log scales),
    clipped to [-1, 1], as r9y9's ``sample_from_discretized_mix_logistic``.

    ``uniforms`` ``(batch, mixtures + 1)`` are draws in [0, 1): the first ``mixtures`` pick the component
    (Gumbel-max), the last draws from it.
    """
    logits, means, log_scales = params.chunk(3, dim=1)
    u = uniforms * (1 - 2e-5) + 1e-5  # keeps both logarithms finite
    choice = (logits - torch.log(-torch.log(u[:, :-1]))).argmax(dim=1, keepdim=True)
    mean = means.gather(1, choice).squeeze(1)
    log_scale = torch.clamp(log_scales.gather(1, choice).squeeze(1), min=log_scale_min)
    draw = u[:, -1]
    return torch.clamp(mean + torch.exp(log_scale) * (torch.log(draw) - torch.log1p(-draw)), -1.0, 1.0)


def chunk_seed(seed: int, index: int) -> int:
    """Seed of chunk ``index``'s sampling stream for the utterance seed ``seed`` (independent streams per chunk)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class FastWaveNet:
    """Batched incremental generation with the weights of a ``wavenet_vocoder.WaveNet`` (weight norm removed).

    Parameters
    ----------
    model : WaveNet
        A scalar-input, locally conditioned model after ``make_generation_fast_()``; its weights are copied.
    dtype : torch.dtype
        Precision of the weights and activations. ``torch.float32`` reproduces ``incremental_forward`` to
        rounding; ``torch.bfloat16`` runs the matrix products about 2.5x faster on CPUs with bf16 instructions
        (and on GPUs), with about 1 % relative error in the distribution parameters. Sampling is always float32.
    """

    def __init__(self, model: WaveNet, dtype: torch.dtype = torch.float32) -> None:
        if not model.scalar_input or model.cin_channels <= 0:
            raise ValueError("FastWaveNet needs a scalar-input (raw / mixture) WaveNet with local conditioning")
        self.model = model
        self.receptive_field = int(model.receptive_field)
        upsampling = [m for m in model.upsample_conv if not isinstance(m, torch.nn.ReLU)]
        if not all(isinstance(m, torch.nn.ConvTranspose2d) for m in upsampling):
            raise ValueError("FastWaveNet needs conditioning upsampled by transposed convolutions and ReLUs")
        self.hop_length = math.prod(conv.stride[-1] for conv in upsampling)
        # frames on each side of a sample's own frame that its conditioning depends on (0 for r9y9's upsampling,
        # whose kernels equal their strides); the last axis is time
        self.upsample_reach = 0
        for conv in reversed(upsampling):
            self.upsample_reach = transposed_conv_reach(
                self.upsample_reach, conv.kernel_size[-1], conv.stride[-1], conv.padding[-1]
            )
        layers = list(model.conv_layers)
        self.kernel = layers[0].conv.kernel_size[0]
        self.dilations = [layer.conv.dilation[0] for layer in layers]
        self.half_gate = layers[0].conv.out_channels // 2
        self.dtype = dtype
        with torch.inference_mode():
            self.first_weight = _matrix(model.first_conv).T.contiguous()  # (1, residual)
            self.first_bias = model.first_conv.bias.clone()
            # dilated conv as one matrix over [x(t - (k-1) d), ..., x(t - d), x(t)] (oldest first)
            self.tap_weights = [layer.conv.weight.permute(2, 1, 0).flatten(0, 1).contiguous() for layer in layers]
            self.cond_weight = torch.cat([_matrix(layer.conv1x1c) for layer in layers]).T.contiguous()
            self.cond_bias = torch.cat([layer.conv.bias + layer.conv1x1c.bias for layer in layers])
            self.out_weights = [_matrix(layer.conv1x1_out).T.contiguous() for layer in layers]
            self.out_biases = [layer.conv1x1_out.bias.clone() for layer in layers]
            # legacy models rescale the running skip sum by sqrt(0.5) after every layer but the first
            count = len(layers)
            scales = [math.sqrt(0.5) ** (count - max(i, 1)) if model.legacy else 1.0 for i in range(count)]
            self.skip_weight = torch.cat(
                [_matrix(layer.conv1x1_skip).T * s for layer, s in zip(layers, scales, strict=True)]
            )
            self.skip_bias = sum(layer.conv1x1_skip.bias * s for layer, s in zip(layers, scales, strict=True))
            head = [m for m in model.last_conv_layers if isinstance(m, torch.nn.Conv1d)]
            self.head = [(_matrix(conv).T.contiguous(), conv.bias.clone()) for conv in head]
            for name in ("first_weight", "first_bias", "cond_weight", "cond_bias", "skip_weight", "skip_bias"):
                setattr(self, name, getattr(self, name).to(dtype))
            for name in ("tap_weights", "out_weights", "out_biases"):
                setattr(self, name, [w.to(dtype) for w in getattr(self, name)])
            self.head = [(w.to(dtype), b.to(dtype)) for w, b in self.head]

    @property
    def device(self) -> torch.device:
        return self.first_bias.device

    def upsample(self, features: torch.Tensor) -> torch.Tensor:
        """Frame-rate features ``(batch, cin, frames)`` -> sample-rate conditioning ``(batch, cin, samples)``."""
        with torch.inference_mode():
            c = features.unsqueeze(1)
            for module in self.model.upsample_conv:
                c = module(c)
            return c.squeeze(1)

    def upsample_span(self, features: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Sample-rate conditioning ``(cin, stop - start)`` of samples ``[start, stop)`` of the utterance with
        features ``(cin, frames)``, upsampling only the frames those samples depend on."""
        first = max(start // self.hop_length - self.upsample_reach, 0)
        last = min(-(-stop // self.hop_length) + self.upsample_reach, features.shape[-1])
        conditioning = self.upsample(features[None, :, first:last].to(self.device))[0]
        offset = first * self.hop_length
        return conditioning[:, start - offset : stop - offset]

    def distribution(self, inputs: torch.Tensor, conditioning: torch.Tensor, progress: bool = False) -> torch.Tensor:
        """Teacher-forced output ``(batch, out_channels, steps)``: the distribution parameters at step ``t`` given
        ``inputs[:, :t + 1]`` and sample-rate ``conditioning[:, :, t]`` (what ``incremental_forward`` computes)."""
        with torch.inference_mode():
            state = _State.start(self, conditioning)
            steps = conditioning.shape[-1]
            return torch.stack([self._step(state, t, inputs[:, t]) for t in _progress(steps, state, progress)], 2)

    def generate(
        self,
        conditioning: torch.Tensor,
        seeds: Sequence[int],
        log_scale_min: float = LOG_SCALE_MIN,
        progress: bool = False,
        desc: str = "wavenet",
    ) -> torch.Tensor:
        """Sample ``(batch, steps)`` audio for sample-rate ``conditioning`` ``(batch, cin, steps)``; each row starts
        from a zero input, as ``incremental_forward`` does, and samples from its own stream seeded by ``seeds``, so
        a row's audio does not depend on the rows beside it."""
        batch, steps = conditioning.shape[0], conditioning.shape[-1]
        draws = self.model.out_channels // 3 + 1  # per step: one per mixture component, one from the component
        # drawn on the CPU, so a seed gives the same audio on any device; (steps, batch, draws)
        uniforms = torch.stack(
            [torch.rand(steps, draws, generator=torch.Generator().manual_seed(seed)) for seed in seeds], dim=1
        ).to(self.device)
        with torch.inference_mode():
            state = _State.start(self, conditioning)
            samples = torch.zeros(batch, steps + 1, device=self.device)
            for t in _progress(steps, state, progress, desc):
                params = self._step(state, t, samples[:, t])
                samples[:, t + 1] = sample_mixture(params, uniforms[t], log_scale_min)
            return samples[:, 1:]

    def _step(self, state: _State, t: int, current: torch.Tensor) -> torch.Tensor:
        """Distribution parameters ``(batch, out_channels)`` at step ``t`` for input samples ``current``."""
        residual, layers = self.first_bias.shape[0], len(self.dilations)
        x = torch.addmm(self.first_bias, current.to(self.dtype).unsqueeze(1), self.first_weight)
        cond = torch.addmm(self.cond_bias, state.conditioning[t], self.cond_weight).view(len(current), layers, -1)
        for layer, (span, dilation) in enumerate(zip(state.spans, self.dilations, strict=True)):
            ring = state.history[state.offsets[layer] : state.offsets[layer] + span]
            for k in range(self.kernel - 1):
                state.taps[:, k * residual : (k + 1) * residual] = ring[(t - (self.kernel - 1 - k) * dilation) % span]
            state.taps[:, -residual:] = x
            a, b = torch.addmm(cond[:, layer], state.taps, self.tap_weights[layer]).split(self.half_gate, dim=1)
            z = state.gated[:, layer * self.half_gate : (layer + 1) * self.half_gate]
            torch.mul(torch.tanh(a), torch.sigmoid(b), out=z)
            ring[t % span] = x
            if layer < layers - 1:  # the last layer's residual output is never used
                x = (torch.addmm(self.out_biases[layer], z, self.out_weights[layer]) + x) * math.sqrt(0.5)
        h = torch.addmm(self.skip_bias, state.gated, self.skip_weight)
        for weight, bias in self.head:
            h = torch.addmm(bias, F.relu(h), weight)
        return h.float()


@dataclass
class _State:
    """Buffers of one batched generation: a ring buffer of past layer inputs for all layers, the gathered taps of
    the current layer, every layer's gated activation, and the conditioning laid out step-major."""

    spans: list[int]
    offsets: list[int]
    history: torch.Tensor
    taps: torch.Tensor
    gated: torch.Tensor
    conditioning: torch.Tensor

    @classmethod
    def start(cls, fast: FastWaveNet, conditioning: torch.Tensor) -> _State:
        batch, residual = conditioning.shape[0], fast.first_bias.shape[0]
        # layer l keeps its last spans[l] inputs at rows offsets[l]:offsets[l] + spans[l] (zeros: silence before t=0)
        spans = [(fast.kernel - 1) * d for d in fast.dilations]
        offsets = np.concatenate([[0], np.cumsum(spans)]).astype(int).tolist()
        like = {"device": fast.device, "dtype": fast.dtype}
        return cls(
            spans=spans,
            offsets=offsets,
            history=torch.zeros(offsets[-1], batch, residual, **like),
            taps=torch.empty(batch, fast.kernel * residual, **like),
            gated=torch.empty(batch, len(spans) * fast.half_gate, **like),
            conditioning=conditioning.to(**like).permute(2, 0, 1).contiguous(),
        )


def _progress(steps: int, state: _State, enabled: bool, desc: str = "wavenet") -> range | tqdm:
    batch = state.taps.shape[0]
    return tqdm(range(steps), desc=desc, unit="sample", unit_scale=batch, disable=not enabled, leave=False)


def _matrix(conv: torch.nn.Conv1d) -> torch.Tensor:
    """Weight of a 1x1 convolution as ``(out, in)``."""
    return conv.weight.squeeze(-1)


def render(
    fast: FastWaveNet,
    features: torch.Tensor,
    chunk: int,
    fade: int,
    seed: int = 0,
    batch: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """Audio ``(frames * hop,)`` for ``(cin, frames)`` features: overlapping chunks of about ``chunk`` samples,
    generated ``batch`` at a time and joined by equal-power cross-fades over ``fade`` samples (independently
    sampled chunks are uncorrelated). Chunk ``i`` samples with :func:`chunk_seed` ``(seed, i)``, so the audio
    depends on ``seed``, ``chunk`` and ``fade`` but not on ``batch``."""
    total = features.shape[-1] * fast.hop_length
    chunks, length = plan_chunks(total, chunk, fade, before=fast.receptive_field)
    audio = torch.zeros(total)
    groups = range(0, len(chunks), batch)
    for group, first in enumerate(groups):
        members = chunks[first : first + batch]
        origin = members[0].start
        conditioning = fast.upsample_span(features, origin, members[-1].start + length)
        rows = torch.stack([conditioning[:, c.start - origin : c.start - origin + length] for c in members])
        seeds = [chunk_seed(seed, first + offset) for offset in range(len(members))]
        desc = f"wavenet {group + 1}/{len(groups)}"
        outputs = fast.generate(rows, seeds, progress=progress, desc=desc).float().cpu()
        for output, member in zip(outputs, members, strict=True):
            place_chunk(audio, output, member, equal_power=True)
    return audio
