"""What only makes a run fast: memory layout, compiling, fused kernels, autocast. Not hashed by the run cache.

None of these changes what a run computes beyond rounding; the rounding they do change (bf16 autocast on a
GPU) is named by `Speedups.numerics`, which is part of every run's cache key.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from . import data as data_mod
from .models import ResNet

if TYPE_CHECKING:
    from .train import TrainConfig


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
        # the fused SGD kernel cannot take parameters without a momentum buffer, which short-path training
        # leaves on the branches it skipped in the first step
        return cls(channels_last=images, compile=compile_, fused_optimizer=not short_paths,
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


@dataclass
class Stepper:
    """A model set up for fast training on a device: what `train` and the benchmark both step."""

    model: ResNet  # the plain module (its weights are what gets saved)
    forward: nn.Module  # `model`, compiled where that pays
    optimizer: torch.optim.Optimizer
    speedups: Speedups
    device: torch.device

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step on a batch that `prepare_batch` made; returns the loss (left on the device)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.speedups.autocast(self.device):
            try:
                logits = self.forward(xb)
            except torch._dynamo.exc.BackendCompilerFailed as err:  # e.g. no C compiler on this machine
                warnings.warn(f"torch.compile failed ({err.__class__.__name__}); training uncompiled", stacklevel=2)
                self.forward = self.model
                logits = self.forward(xb)
            loss = F.cross_entropy(logits, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss


def stepper(config: TrainConfig, dataset: data_mod.Dataset, device: torch.device, speedups: Speedups) -> Stepper:
    """The model `config` names, initialised from its seed, with its optimizer, ready on `device`."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    if speedups.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # the compiled wrapper shares the parameters of `model`. Static shapes: one graph per batch size, so which
    # kernels a batch runs depends on its size only, not on the sizes seen before (with automatic dynamic shapes,
    # a run resumed mid-epoch ran other kernels than the uninterrupted run, and ended differently: measured)
    forward = torch.compile(model, mode=speedups.compile_mode, dynamic=False) if speedups.compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, fused=speedups.fused_optimizer)
    return Stepper(model, forward, optimizer, speedups, device)


