import numpy as np
import pytest
import torch

from resbook import probes
from resbook.models import resnet


def test_one_response_per_3x3_layer():
    for depth in (8, 20):
        assert len(probes.response_layers(resnet(depth))) == depth - 1  # all but the final linear layer
        assert len(probes.response_layers(resnet(depth, preact=True))) == depth - 1


def test_response_std_matches_direct_computation():
    model = resnet(8, in_channels=1).eval()
    x = torch.randn(37, 1, 8, 8)
    stds = probes.layer_response_stds(model, x, batch_size=10)
    outputs = []
    handle = model.stem[1].register_forward_hook(lambda m, i, o: outputs.append(o))
    model(x)
    handle.remove()
    assert np.isclose(stds[0], outputs[0].double().std(unbiased=False).item(), rtol=1e-6)
    assert stds.shape == (7,) and np.all(stds > 0)


def random_bn(model):
    """Give batch norm non-trivial statistics so that identities are not satisfied by accident."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return model.eval()


def brute_force_paths(model, x, y):
    """Every one of the 2^n paths, back-propagated one at a time, summed by length."""
    net = random_bn(model).double()
    hs = net.features(x.double())
    n = len(net.blocks)
    h_out = hs[-1].detach().requires_grad_(True)
    g_out = torch.autograd.grad(torch.nn.functional.cross_entropy(net.head(h_out), y, reduction="sum"), h_out)[0]
    totals = [torch.zeros_like(hs[0]) for _ in range(n + 1)]
    for path in range(2**n):
        u = g_out
        for i in reversed(range(n)):
            block = net.blocks[i]
            h = hs[i].detach().requires_grad_(True)
            skip, branch = block.shortcut(h), block.branch(h)
            mask = torch.ones_like(skip) if block.preact else ((skip + branch) > 0).double()
            out = branch if (path >> i) & 1 else skip
            u = torch.autograd.grad(out, h, u * mask)[0]
        totals[bin(path).count("1")] += u
    return torch.stack(totals)


@pytest.mark.parametrize("preact,shortcut,dims", [(False, "A", 2), (True, "A", 2), (False, "B", 1)])
def test_path_gradients_equal_brute_force_enumeration_and_autograd(preact, shortcut, dims):
    torch.manual_seed(1)
    model = random_bn(resnet(20, in_channels=1, width=4, preact=preact, shortcut=shortcut, dims=dims))
    x = torch.randn(3, 1, 8, 8) if dims == 2 else torch.randn(3, 1, 12)
    y = torch.tensor([1, 2, 3])
    exact = probes.path_gradients(model, x, y)
    assert exact.shape == (len(model.blocks) + 1, *model.stem(x).shape)
    torch.testing.assert_close(exact, brute_force_paths(model, x, y), rtol=1e-10, atol=1e-12)
    h0 = model.double().stem(x.double()).detach().requires_grad_(True)
    h = h0
    for block in model.blocks:
        h = block(h)
    grad = torch.autograd.grad(torch.nn.functional.cross_entropy(model.head(h), y, reduction="sum"), h0)[0]
    torch.testing.assert_close(exact.sum(0), grad, rtol=1e-12, atol=1e-14)


def test_path_gradients_scale_to_54_blocks_in_float64():
    model = random_bn(resnet(110, in_channels=1, width=2))
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([0, 1])
    exact = probes.path_gradients(model, x, y)
    assert exact.dtype == torch.float64 and exact.shape[0] == 55
    net = model.double()
    h0 = net.stem(x.double()).detach().requires_grad_(True)
    h = h0
    for block in net.blocks:
        h = block(h)
    grad = torch.autograd.grad(torch.nn.functional.cross_entropy(net.head(h), y, reduction="sum"), h0)[0]
    assert ((exact.sum(0) - grad).norm() / grad.norm()).item() < 1e-10


def test_sampled_estimate_is_exact_at_the_ends_and_unbiased_in_between():
    model = random_bn(resnet(14, in_channels=1, width=4))
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    exact = probes.path_gradients(model, x, y)
    norms, estimate = probes.sampled_path_gradients(model, x, y, samples=400)
    for k in (0, len(exact) - 1):  # only one path of length 0 and of length n
        torch.testing.assert_close(estimate[k], exact[k])
        per_example = exact[k].flatten(1).norm(dim=1).numpy()
        assert np.allclose(norms[k], np.tile(per_example, 400))  # every sample is that one path
    assert ((estimate[2] - exact[2]).norm() / exact[2].norm()).item() < 0.3


def test_lesioned_blocks_compute_their_shortcut_and_are_restored():
    model = random_bn(resnet(14, in_channels=1))
    x = torch.randn(2, 1, 8, 8)
    before = model(x)
    with probes.lesioned(model, [1, 3]):
        hs = [model.stem(x)]
        for i, block in enumerate(model.blocks):
            expected = block.shortcut(hs[-1]) if i in (1, 3) else type(block).forward(block, hs[-1])
            assert torch.equal(block(hs[-1]), expected)
            hs.append(expected)
        torch.testing.assert_close(model(x), model.head(hs[-1]))
    torch.testing.assert_close(model(x), before)
    assert "forward" not in dict(model.named_modules())
    with pytest.raises(IndexError, match="out of range"):
        with probes.lesioned(model, [6]):
            pass


def test_reordering_swaps_only_same_shape_blocks_and_restores():
    model = random_bn(resnet(20, in_channels=1))
    assert probes.swappable_groups(model) == [[0, 1, 2], [4, 5], [7, 8]]
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    before = model(x)
    frame = probes.random_reorderings(model, x, y, max_swaps=3, draws=2)
    assert frame.tau.iloc[0] == 1.0 and (frame.tau <= 1.0).all()
    torch.testing.assert_close(model(x), before)


def test_effective_range_is_shortest_window():
    assert probes.effective_range([0.01, 0.5, 0.3, 0.1, 0.09]) == (1, 3)
    assert probes.effective_range([1.0, 0, 0]) == (0, 0)


def test_per_example_probes_average_to_the_probes():
    model = random_bn(resnet(14, in_channels=1, width=4, preact=True))
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    per_example = probes.block_alignment_per_example(model, x, y)
    shaped = ~np.isnan(per_example).all(1)  # downsampling blocks have no cosine
    assert np.allclose(per_example[shaped].mean(1), np.array(probes.block_alignment(model, x, y))[shaped])
    assert np.allclose(probes.norm_ratios_per_example(model, x).mean(1), probes.norm_ratios(model, x))
    assert probes.mistakes(model, x, y).mean() == probes.error_rate(model, x, y)
    lesions = probes.single_lesions(model, x, y)
    assert np.array_equal(probes.lesion_mistakes(model, x, y).mean(1), lesions.error)
    assert list(lesions.downsample) == [b.downsample for b in model.block_info()]
    for train_mode in (True, False):
        norms = probes.activation_norms_per_example(model, x, train_mode)
        assert np.array_equal(norms.mean(1), probes.activation_norms(model, x, train_mode))


def test_the_untrained_control_is_the_training_runs_initialisation_with_data_statistics():
    from resbook import speed, train

    config = train.TrainConfig("digits", 8, width=(4, 8, 16), seed=3)
    x = torch.randn(64, 1, 8, 8) * 3 + 1
    control = probes.untrained(config, x)
    start = train.Stepper(config, torch.device("cpu"), speed.Speedups(False, False, False, False)).model
    for (name, a), b in zip(control.named_parameters(), start.parameters(), strict=True):
        assert torch.equal(a, b), name  # the weights training starts from
    bn = next(m for m in control.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not control.training and bn.running_var.mean() > 1.5  # statistics of x, not the fresh (0, 1)
