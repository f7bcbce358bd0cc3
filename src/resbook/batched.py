"""Several runs as one computation: the seeds of one architecture trained together (`TrainConfig.trained_with`).

The nets' weights are stacked along a new first dimension (`torch.func.stack_module_state`) and one
`vmap`ped forward and backward pass trains them all: a GPU runs a kernel per layer for the whole group
instead of one per net, which is what fills it when the nets are small. Each run keeps everything it
would have alone: its initialisation (its seed), its data order and augmentation (its own generator), its
batch-norm statistics, its own loss (the group's loss is the sum, so each net's gradient is its own).
The rounding is not that of a run trained alone (a vmapped convolution is a grouped one), which is why the
group is part of each run's identity; tests/test_batched.py checks that the two agree to rounding.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

from . import data as data_mod
from .models import ResNet
from .speed import Speedups, default_device
from .train import TrainConfig, TrainResult, fit


def members(config: TrainConfig) -> list[TrainConfig]:
    """Every run of `config`'s group, in the order of `trained_with`."""
    return [replace(config, seed=seed) for seed in config.trained_with]


class GroupStepper:
    """A group's nets stacked for training on a device: one vmapped SGD step of them all (`fit` drives it)."""

    def __init__(self, configs: list[TrainConfig], device: torch.device, speedups: Speedups):
        # each net initialised exactly as it would be alone (`TrainConfig.initial_model`)
        self.nets = [c.initial_model().to(device) for c in configs]
        params, buffers = stack_module_state(self.nets)
        self.params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        self.buffers = {k: v.clone() for k, v in buffers.items()}  # updated in place by the vmapped batch norms
        self.shell = copy.deepcopy(self.nets[0]).to("meta")  # the architecture, without weights of its own
        first = configs[0]
        self.optimizer = torch.optim.SGD(self.params.values(), lr=first.lr, momentum=first.momentum,
                                         weight_decay=first.weight_decay, fused=speedups.fused_optimizer)
        self.speedups, self.device = speedups, device

    def _forward(self, params, buffers, x):
        return functional_call(self.shell, (params, buffers), (x,))

    def train_mode(self) -> None:
        self.shell.train()

    def step(self, xbs: Sequence[torch.Tensor], ybs: Sequence[torch.Tensor], lr: float) -> torch.Tensor:
        """One SGD step of every net, each on its own batch; returns each net's loss, shape (nets,)."""
        xb, yb = torch.stack(list(xbs)), torch.stack(list(ybs))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.speedups.autocast(self.device):
            logits = vmap(self._forward)(self.params, self.buffers, xb).float()
        # each net's mean loss, summed: the gradient of a net's weights is that of its own loss
        loss = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(len(self.nets), -1)
        losses = loss.mean(1)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def models(self) -> list[ResNet]:
        """Each net's slice of the stacked weights copied into its own module (for evaluation and results)."""
        with torch.no_grad():
            for i, model in enumerate(self.nets):
                model.load_state_dict({k: v[i] for k, v in {**self.params, **self.buffers}.items()})
        return self.nets

    def forwards(self) -> list[ResNet]:
        return self.models()

    def state_dict(self) -> dict:
        return {"params": self.params, "buffers": self.buffers, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, saved: dict) -> None:
        with torch.no_grad():
            for k in self.params:
                self.params[k].copy_(saved["params"][k])
            for k in self.buffers:
                self.buffers[k].copy_(saved["buffers"][k])
        self.optimizer.load_state_dict(saved["optimizer"])


def train_together(
    configs: list[TrainConfig],
    dataset: data_mod.Dataset | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    state: str | os.PathLike | None = None,
) -> list[TrainResult]:
    """Train one group (`members(c)` for any member c) as one batched computation; a result per run.

    With `state`, the group keeps one resumable state for all its runs and continues from it.
    """
    first = configs[0]
    if [c.seed for c in configs] != list(first.trained_with) or any(replace(c, seed=first.seed) != first
                                                                    for c in configs):
        raise ValueError(f"a group is the runs of one config for each seed of its trained_with; got "
                         f"{[(c.label, c.seed, c.trained_with) for c in configs]}")
    if first.active_branches:
        raise ValueError("short-path training (active_branches) draws a different path per net: train it alone")
    device = torch.device(device) if device is not None else default_device()
    dataset = (dataset or data_mod.load(first.dataset, pixels=True)).to(device)
    speedups = Speedups.choose(device, dataset, 0)  # no compiling, no channels-last: vmap brings its own layout
    speedups = replace(speedups, channels_last=False)
    stepper = GroupStepper(configs, device, speedups)
    return fit(stepper, configs, dataset, speedups, progress=progress, state=state,
               desc=f"{first.label} x{len(configs)} seeds")
