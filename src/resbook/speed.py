"""What only makes a run fast: memory layout, compiling, fused kernels, autocast. Not hashed by the run cache.

None of these changes what a run computes beyond rounding; the rounding they do change (bf16 autocast on a
GPU) is named by `Speedups.numerics`, which is part of every run's cache key. What a step computes (seeding,
the model, the optimizer, the loss) lives in `train` and `batched`, which the cache key hashes; this module
imports neither.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from . import data as data_mod


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def local_numerics() -> str:
    """The numerics (`Speedups.numerics`) of a run trained on this machine's default device."""
    if torch.cuda.is_available():
        return "cuda-bf16" if torch.cuda.is_bf16_supported() else "cuda-fp32"
    return "cpu-fp32"


# torch.compile costs 30 s to 100 s before the first step and saves a fraction of each step: it pays only
# for long runs (a paper-length run has 64k steps; the cpu profile's runs have a few hundred)
COMPILE_MIN_STEPS = 2000


@dataclass(frozen=True)
class Speedups:
    """How a run uses the hardware. None of these changes what is computed beyond rounding."""

    channels_last: bool  # NHWC layout: faster convolutions for images on GPUs (tensor cores)
    compile: bool  # torch.compile the model (fuses batch norm, ReLU and additions)
    fused_optimizer: bool  # one SGD kernel for all parameters
    bf16: bool  # bf16 autocast (tensor cores); weights and optimizer state stay fp32
    compile_mode: str | None = None  # torch.compile's mode (None: its default)
    device_type: str = "cpu"

    @classmethod
    def choose(cls, device: torch.device, dataset: data_mod.Dataset, steps: int, *,
               short_paths: bool = False) -> Speedups:
        cuda = device.type == "cuda"
        # channels-last on GPUs only: on the CPU its gain was within noise, and oneDNN's backward pass of a
        # 1x1 convolution in that layout (option-B projections, highway gates) hung in a test here
        images = cuda and dataset.dims == 2 and min(dataset.train_x.shape[-2:]) >= 16
        # per-batch hooks of short-path training would make the compiled graph recompile every step
        compile_ = steps >= COMPILE_MIN_STEPS and not short_paths
        if "RESBOOK_COMPILE" in os.environ:
            compile_ = os.environ["RESBOOK_COMPILE"] == "1" and not short_paths
        # the fused SGD kernel on GPUs only: on this CPU it made a ResNet-20 step slower (compiled: 416 ms with it,
        # 324 ms with the default multi-tensor SGD, batch 128, measured side by side 2026-12-03); and it cannot
        # take parameters without a momentum buffer, which short-path training leaves on the branches it skipped
        return cls(channels_last=images, compile=compile_, fused_optimizer=cuda and not short_paths,
                   bf16=cuda and torch.cuda.is_bf16_supported(),
                   # CUDA graphs: the book's nets are small enough that kernel launches, not arithmetic,
                   # bound a GPU step (measured on an H200: 33.5k vs 16.5k img/s for ResNet-20)
                   compile_mode=os.environ.get("RESBOOK_COMPILE_MODE", "reduce-overhead" if cuda else None),
                   device_type=device.type)

    @property
    def numerics(self) -> str:
        """What decides a run's rounding: the device type and precision, e.g. "cpu-fp32" or "cuda-bf16"."""
        return f"{self.device_type}-{'bf16' if self.bf16 else 'fp32'}"

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def place(self, model: nn.Module, device: torch.device) -> nn.Module:
        """`model` on `device` in this run's memory layout (in place; returns it)."""
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model = model.to(device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def compiled(self, model: nn.Module) -> nn.Module:
        """What to call for a forward pass: `model` itself, or compiled where that pays.

        The compiled wrapper shares the parameters of `model`. Static shapes: one graph per batch size, so which
        kernels a batch runs depends on its size only, not on the sizes seen before (with automatic dynamic
        shapes, a run resumed mid-epoch ran other kernels than the uninterrupted run, and ended differently:
        measured).
        """
        if not self.compile:
            return model
        return CompileFallback(model, torch.compile(model, mode=self.compile_mode, dynamic=False))


class CompileFallback(nn.Module):
    """A compiled model that falls back to the plain one when compiling fails (e.g. no C compiler here)."""

    def __init__(self, model: nn.Module, compiled: nn.Module):
        super().__init__()
        self.model, self.compiled_forward, self.failed = model, compiled, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                return self.compiled_forward(x)
            except torch._dynamo.exc.BackendCompilerFailed as err:
                warnings.warn(f"torch.compile failed ({err.__class__.__name__}); training uncompiled", stacklevel=2)
                self.failed = True
        return self.model(x)
