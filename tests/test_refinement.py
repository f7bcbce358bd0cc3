import math

import numpy as np
import torch
from torch.nn import functional as F

from resbook.models import resnet
from resbook.probes import refinement
from tests.test_probes import random_bn


def net_and_data(preact=True):
    torch.manual_seed(0)
    model = random_bn(resnet(14, in_channels=1, width=4, preact=preact))
    return model, torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))


def test_alignment_matches_direct_computation_and_is_nan_where_shapes_differ():
    model, x, y = net_and_data()
    cos = refinement.block_alignment(model, x, y)
    assert len(cos) == len(model.blocks)
    assert [math.isnan(c) for c in cos] == [b.downsample for b in model.blocks]
    h1 = model.blocks[0](model.stem(x)).detach().requires_grad_(True)
    h = h1
    for block in model.blocks[1:]:
        h = block(h)
    grad = torch.autograd.grad(F.cross_entropy(model.head(h), y, reduction="sum"), h1)[0]
    expected = F.cosine_similarity(model.blocks[1].branch(h1).flatten(1), grad.flatten(1)).mean().item()
    assert math.isclose(cos[1], expected, rel_tol=1e-5)
    assert all(-1 <= c <= 1 for c in cos if not math.isnan(c))


def test_norm_ratios_match_direct_computation():
    model, x, _ = net_and_data()
    ratios = refinement.norm_ratios(model, x)
    h0 = model.stem(x)
    expected = (model.blocks[0].branch(h0).flatten(1).norm(dim=1) / h0.flatten(1).norm(dim=1)).mean().item()
    assert len(ratios) == len(model.blocks) and math.isclose(ratios[0], expected, rel_tol=1e-5)


def test_the_means_are_the_means_of_the_per_example_probes():
    model, x, y = net_and_data()
    cos = refinement.block_alignment_per_example(model, x, y)
    assert cos.shape == (len(model.blocks), len(x))
    assert np.array_equal(refinement.block_alignment(model, x, y), cos.mean(1), equal_nan=True)
    ratios = refinement.norm_ratios_per_example(model, x)
    assert ratios.shape == (len(model.blocks), len(x))
    assert np.array_equal(refinement.norm_ratios(model, x), ratios.mean(1))


def test_a_later_blocks_ratio_is_taken_at_its_own_input():
    model, x, _ = net_and_data()
    with torch.no_grad():
        h = model.stem(x)
        for block in model.blocks[:4]:
            h = block(h)
        ratio = (model.blocks[4].branch(h).flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1)).numpy()
    assert np.allclose(refinement.norm_ratios_per_example(model, x)[4], ratio)
