"""Chapter 2's per-example probes: which test examples a net gets wrong with many blocks deleted.

`lesions.random_lesions` keeps one error rate per (k, draw); a claim about the curve needs the mistakes
behind it, so that the curve can be recomputed on resampled test examples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .lesions import lesioned, mistakes


def random_lesion_mistakes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 10,
                           seed: int = 0) -> pd.DataFrame:
    """`lesions.random_lesions` (the same draws for the same `seed`) with each row's mistakes kept.

    One row per (k, draw), k = 0 .. n blocks deleted at random (one draw at k = 0 and k = n, where
    there is only one choice): `error` and `mistakes`, a bool array over the examples of `x`.
    """
    rng = np.random.default_rng(seed)
    n = len(model.blocks)
    rows = []
    for k in range(n + 1):
        for draw in range(draws if 0 < k < n else 1):
            with lesioned(model, rng.choice(n, size=k, replace=False).tolist()):
                wrong = mistakes(model, x, y)
            rows.append({"k": k, "draw": draw, "error": float(wrong.mean()), "mistakes": wrong})
    return pd.DataFrame(rows)
