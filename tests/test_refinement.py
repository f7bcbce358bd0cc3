import math

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


def test_readouts_end_at_the_models_own_accuracy():
    model, x, y = net_and_data(preact=False)
    frame = refinement.intermediate_readouts(model, x, y)
    assert list(frame.block) == [b + 1 for b in refinement.last_stage(model)]
    accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert math.isclose(frame.accuracy.iloc[-1], accuracy)


def test_unrolling_starts_at_the_trained_net_and_scale_zero_changes_nothing():
    model, x, y = net_and_data()
    naive = refinement.unroll_last_block(model, x, y, steps=3, scale=1.0)
    assert math.isclose(naive.loss.iloc[0], F.cross_entropy(model(x), y).item(), rel_tol=1e-5)
    frozen = refinement.unroll_last_block(model, x, y, steps=3, scale=0.0)
    assert frozen.loss.nunique() == 1 and frozen.norm.nunique() == 1
    scale = refinement.choose_unroll_scale(model, x, y, steps=3, grid=(1.0, 0.1))
    assert scale in (1.0, 0.1)
