"""The control for a structural claim: the same net, untrained.

Where the architecture alone could produce an effect (norm ratios, layer responses, which blocks matter),
a claim about training holds only if the trained net shows more of it than its own initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import ResNet
from ..train import TrainConfig

_NORM = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def untrained(config: TrainConfig, x: torch.Tensor, batch_size: int = 500) -> ResNet:
    """The net `config` trains, as its training starts (seeded the same way), with BN statistics of `x`.

    Fresh batch norm has running mean 0 and variance 1, which in eval mode would leave the untrained
    net's activations unnormalised; setting them from the data (no weight changes) makes the untrained
    and the trained net comparable in eval mode.
    """
    model = config.initial_model()  # the weights its training run starts from
    norms = [m for m in model.modules() if isinstance(m, _NORM)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    model.train()
    for start in range(0, len(x), batch_size):
        model(x[start:start + batch_size])
    for m in norms:
        m.momentum = 0.1
    return model.eval()
