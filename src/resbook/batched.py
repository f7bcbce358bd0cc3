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
import time
from dataclasses import replace

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import data as data_mod
from . import resume
from .speed import Speedups, default_device
from .train import TRAIN_EVAL_EXAMPLES, TrainConfig, TrainResult, evaluate, learning_rate, prepare_batch


def members(config: TrainConfig) -> list[TrainConfig]:
    """Every run of `config`'s group, in the order of `trained_with`."""
    return [replace(config, seed=seed) for seed in config.trained_with]


class GroupStepper:
    """A group's nets stacked for training on a device: what `train_together` and the benchmark both step."""

    def __init__(self, configs: list[TrainConfig], device: torch.device, speedups: Speedups):
        self.models = []
        for config in configs:  # each net initialised exactly as `speed.stepper` would initialise it alone
            torch.manual_seed(config.seed)
            self.models.append(config.build_model().to(device))
        params, buffers = stack_module_state(self.models)
        self.params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        self.buffers = {k: v.clone() for k, v in buffers.items()}  # updated in place by the vmapped batch norms
        self.shell = copy.deepcopy(self.models[0]).to("meta")  # the architecture, without weights of its own
        first = configs[0]
        self.optimizer = torch.optim.SGD(self.params.values(), lr=first.lr, momentum=first.momentum,
                                         weight_decay=first.weight_decay, fused=speedups.fused_optimizer)
        self.speedups, self.device = speedups, device

    def _forward(self, params, buffers, x):
        return functional_call(self.shell, (params, buffers), (x,))

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> None:
        """One SGD step of every net: xb (nets, batch, ...) holds each net's own batch, yb (nets, batch)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.shell.train()
        with self.speedups.autocast(self.device):
            logits = vmap(self._forward)(self.params, self.buffers, xb).float()
        # each net's mean loss, summed: the gradient of a net's weights is that of its own loss
        loss = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(len(self.models), -1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.mean(1).sum().backward()
        self.optimizer.step()

    def unstack(self) -> list:
        """Each net's slice of the stacked weights copied into its own module (for evaluation and results)."""
        with torch.no_grad():
            for i, model in enumerate(self.models):
                model.load_state_dict({k: v[i] for k, v in {**self.params, **self.buffers}.items()})
        return self.models


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
    n, size = len(dataset.train_y), first.batch_size
    steps_per_epoch = -(-n // size)
    fast = Speedups.choose(device, dataset, 0)  # no compiling, no channels-last: vmap brings its own layout
    fast = replace(fast, channels_last=False, fused_optimizer=True)
    run = GroupStepper(configs, device, fast)
    params, buffers, optimizer = run.params, run.buffers, run.optimizer
    generators = [torch.Generator().manual_seed(c.seed) for c in configs]
    histories = [{k: [] for k in ("epoch", "lr", "train_loss", "train_err", "test_loss", "test_err", "seconds")}
                 for _ in configs]
    checkpoints: list[dict] = [{} for _ in configs]
    step, first_epoch, skip, elapsed, resumed_from = 0, 1, 0, 0.0, None
    keeper = resume.Keeper(state, {"group": [c.as_dict() for c in configs]}) if state is not None else None
    saved = keeper.read() if keeper else None
    if saved:
        with torch.no_grad():
            for k in params:
                params[k].copy_(saved["params"][k])
            for k in buffers:
                buffers[k].copy_(saved["buffers"][k])
        optimizer.load_state_dict(saved["optimizer"])
        histories, checkpoints = saved["histories"], saved["checkpoints"]
        step, first_epoch, skip, elapsed = saved["step"], saved["epoch"], saved["batch"], saved["seconds"]
        for g, s in zip(generators, saved["epoch_generators"], strict=True):
            g.set_state(s)
        resumed_from = (first_epoch, skip)
    start = time.perf_counter() - elapsed

    def snapshot(epoch: int, batch: int, epoch_states: list[torch.Tensor]) -> dict:
        return {"params": params, "buffers": buffers, "optimizer": optimizer.state_dict(), "histories": histories,
                "checkpoints": checkpoints, "step": step, "epoch": epoch, "batch": batch,
                "seconds": time.perf_counter() - start, "epoch_generators": epoch_states,
                "generators": [g.get_state() for g in generators]}

    bar = tqdm(range(first_epoch, first.epochs + 1), desc=f"{first.label} x{len(configs)} seeds",
               disable=not progress, leave=False, initial=first_epoch - 1, total=first.epochs)
    for epoch in bar:
        epoch_states = [g.get_state() for g in generators]
        orders = [data_mod.batches(dataset.train_x, dataset.train_y, size, shuffle=True, generator=g)
                  for g in generators]
        for index, group in enumerate(zip(*orders, strict=True)):
            if index < skip:
                continue
            if index == skip and skip:
                for g, s in zip(generators, saved["generators"], strict=True):
                    g.set_state(s)
            xb = torch.stack([prepare_batch(dataset, x, first.augment, g, fast)
                              for (x, _), g in zip(group, generators, strict=True)])
            yb = torch.stack([y for _, y in group])
            lr = learning_rate(first, step, steps_per_epoch)
            run.step(xb, yb, lr)
            step += 1
            if keeper and index + 1 < steps_per_epoch and keeper.due():
                keeper.write(snapshot(epoch, index + 1, epoch_states))
        skip = 0
        for i, (model, history) in enumerate(zip(run.unstack(), histories, strict=True)):
            train_loss, train_err = evaluate(model, dataset.train_x[:TRAIN_EVAL_EXAMPLES],
                                             dataset.train_y[:TRAIN_EVAL_EXAMPLES], prepare=dataset.prepare,
                                             speedups=fast)
            test_loss, test_err = evaluate(model, dataset.test_x, dataset.test_y, prepare=dataset.prepare,
                                           speedups=fast)
            for key, value in zip(history, (epoch, lr, train_loss, train_err, test_loss, test_err,
                                            time.perf_counter() - start), strict=True):
                history[key].append(value)
            if epoch in first.checkpoints:
                checkpoints[i][epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(train_err=f"{max(h['train_err'][-1] for h in histories):.3f} (worst)")
        if keeper and keeper.due(epoch_end=True):
            keeper.write(snapshot(epoch + 1, 0, [g.get_state() for g in generators]))
    return [TrainResult(c, m.cpu().eval(), h, k, fast.numerics, resumed_from)
            for c, m, h, k in zip(configs, run.unstack(), histories, checkpoints, strict=True)]
