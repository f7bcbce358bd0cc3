"""Probes for nets whose blocks share weights (Jastrzebski et al. Sec. 4.5): how activations and
gradients behave when one block is applied many times."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.nn import functional as F

from ..models import ResNet


def activation_norms_per_example(model: ResNet, x: torch.Tensor, train_mode: bool = True) -> np.ndarray:
    """Per-example ||h_i|| after the stem and after every block: shape (blocks + 1, examples).

    In train mode (batch statistics) or eval mode (running statistics), on a copy, so that the model's
    running statistics are left alone.
    """
    net = copy.deepcopy(model).train(train_mode)
    with torch.no_grad():
        return np.stack([h.flatten(1).norm(dim=1).numpy() for h in net.features(x)])


def activation_norms(model: ResNet, x: torch.Tensor, train_mode: bool = True) -> list[float]:
    """The mean over examples of `activation_norms_per_example`: ||h_i|| after the stem and after every block,
    by default in train mode (batch statistics, as at initialisation and during training)."""
    return [float(row.mean()) for row in activation_norms_per_example(model, x, train_mode)]


def stage_gradient_norms(model: ResNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Norm of the loss gradient with respect to the convolution weights of each stage (train mode, a copy).

    A shared convolution counts once: its gradient already sums over all its applications.
    """
    net = copy.deepcopy(model).train()
    loss = F.cross_entropy(net(x), y)
    net.zero_grad()
    loss.backward()
    norms, seen = [0.0, 0.0, 0.0], set()
    for block in net.blocks:
        for p in block.branch.parameters():
            if p.dim() > 1 and id(p) not in seen:  # convolution weights only, each once
                seen.add(id(p))
                norms[block.stage - 1] += p.grad.pow(2).sum().item()
    return [v**0.5 for v in norms]
