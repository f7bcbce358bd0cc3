"""The head read after each block of the last stage, and unrolling the last block: per example, and the means
over examples that are their wrappers."""

import math

import numpy as np
import torch
from torch.nn import functional as F

from resbook.models import resnet
from resbook.probes import readouts
from tests.test_probes import random_bn


def net_and_data(preact=True, **options):
    torch.manual_seed(0)
    model = random_bn(resnet(14, in_channels=1, width=4, preact=preact, **options))
    return model, torch.randn(40, 1, 8, 8), torch.randint(0, 10, (40,))


def test_the_last_stage_is_the_models_own():
    assert readouts.last_stage(net_and_data()[0]) == [4, 5]
    assert readouts.last_stage(net_and_data(arch="avgpool")[0]) == [4, 5]
    assert readouts.last_stage(net_and_data(arch="single")[0]) == [4, 5]  # stage 3, though nothing downsamples


def test_readouts_end_at_the_models_own_accuracy():
    model, x, y = net_and_data(preact=False)
    out = readouts.readouts_per_example(model, x, y)
    assert list(out["block"]) == [b + 1 for b in readouts.last_stage(model)]
    assert np.array_equal(out["correct"][-1], (model(x).argmax(1) == y).numpy())
    assert np.isnan(out["corrected"][-1]).all() and np.isnan(out["broken"][-1]).all()
    # an example is corrected where it is borderline and wrong here and right after the next block
    c, b = out["correct"], out["borderline"]
    assert np.array_equal(out["corrected"][0], (b[0] & ~c[0] & c[1]).astype(float))
    assert np.array_equal(out["broken"][0], (b[0] & c[0] & ~c[1]).astype(float))


def test_intermediate_readouts_are_the_means_of_readouts_per_example():
    model, x, y = net_and_data()
    out = readouts.readouts_per_example(model, x, y)
    means = readouts.intermediate_readouts(model, x, y)
    assert list(means.block) == list(out["block"])
    for column, key in (("accuracy", "correct"), ("loss", "loss"), ("entropy", "entropy"),
                        ("borderline", "borderline")):
        assert np.array_equal(means[column], out[key].mean(1, dtype=np.float64)), column
    assert np.array_equal(means.corrected, out["corrected"].sum(1), equal_nan=True)
    assert np.array_equal(means.broken, out["broken"].sum(1), equal_nan=True)


def test_unrolling_starts_at_the_trained_net_and_scale_zero_changes_nothing():
    model, x, y = net_and_data()
    out = readouts.unroll_per_example(model, x, y, steps=3, scales=(1.0, 0.0))
    assert out[1.0]["loss"].shape == (4, len(x))
    assert math.isclose(out[1.0]["loss"][0].mean(), F.cross_entropy(model(x), y).item(), rel_tol=1e-5)
    frozen = out[0.0]
    assert (frozen["loss"] == frozen["loss"][0]).all() and (frozen["norm"] == frozen["norm"][0]).all()


def test_unroll_last_block_is_the_mean_of_unroll_per_example():
    model, x, y = net_and_data()
    out = readouts.unroll_per_example(model, x, y, steps=3, scales=(1.0, 0.1))
    for scale in (1.0, 0.1):
        means = readouts.unroll_last_block(model, x, y, steps=3, scale=scale)
        u = out[scale]
        assert list(means.step) == [0, 1, 2, 3] and (means.scale == scale).all()
        for column, key in (("norm", "norm"), ("loss", "loss"), ("entropy", "entropy"), ("accuracy", "correct")):
            assert np.array_equal(means[column], u[key].mean(1, dtype=np.float64)), column
        border = u["borderline"]
        assert (means.borderline_count == border.sum()).all()
        if border.any():
            assert np.array_equal(means.borderline_accuracy, u["correct"][:, border].mean(1))


def test_the_best_scale_is_the_lowest_final_loss_and_choose_unroll_scale_uses_it():
    fake = {1.0: {"loss": np.array([[0.1], [0.5]])}, 0.1: {"loss": np.array([[0.1], [0.2]])},
            0.5: {"loss": np.array([[0.1], [0.2]])}}
    assert readouts.best_scale(fake) == 0.5  # lowest final loss; a tie goes to the larger scale
    model, x, y = net_and_data()
    grid = (1.0, 0.1, 0.01)
    assert readouts.choose_unroll_scale(model, x, y, steps=3, grid=grid) == \
        readouts.best_scale(readouts.unroll_per_example(model, x, y, 3, grid))
