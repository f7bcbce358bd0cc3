"""The sizes of the two paths of every residual block (De and Smith 2020): the skip path and the branch."""

from __future__ import annotations

import copy

import numpy as np
import torch

from ..models import ResNet


def _per_example_variance(h: torch.Tensor) -> np.ndarray:
    """Per example, the mean over channels and positions of the squared deviation from the batch's mean of that
    channel and position: the batch variance, split into one share per example (their mean is the variance)."""
    return ((h - h.mean(dim=0, keepdim=True)) ** 2).flatten(1).mean(dim=1).numpy().astype(np.float64)


@torch.no_grad()
def branch_and_skip_variances(model: ResNet, x: torch.Tensor, train_mode: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per example and block, the variance share (`_per_example_variance`) of the block's branch F(h) and of its
    skip path shortcut(h): two arrays of shape (examples, blocks). In train mode by default (batch statistics, as
    at the start of training), on a copy, so the model's running statistics are left alone."""
    net = copy.deepcopy(model).train(train_mode)
    branch, skip = [], []
    h = net.stem(x)
    for block in net.blocks:
        s, f = block.shortcut(h), block.branch(h)
        branch.append(_per_example_variance(f))
        skip.append(_per_example_variance(s))
        h = block.combine(s, f)
    return np.stack(branch, axis=1), np.stack(skip, axis=1)
