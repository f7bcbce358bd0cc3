import pytest
import torch
from torch.nn import functional as F

from resbook.models import ZeroPadShortcut, blocks_per_stage, count_parameters, resnet
from resbook.papers import TABLE6_PARAMS_M


@pytest.mark.parametrize("depth", sorted(TABLE6_PARAMS_M))
def test_parameter_counts_match_table6_and_plain_twin(depth):
    res = count_parameters(resnet(depth))
    assert round(res / 1e6, 2 if depth < 110 else 1) == TABLE6_PARAMS_M[depth]
    assert count_parameters(resnet(depth, residual=False)) == res


def test_option_b_adds_projection_parameters():
    assert count_parameters(resnet(20, shortcut="B")) > count_parameters(resnet(20))


@pytest.mark.parametrize("dims,shape", [(2, (4, 3, 32, 32)), (1, (4, 1, 40))])
@pytest.mark.parametrize("preact", [False, True])
def test_forward_shapes_and_decomposition(dims, shape, preact):
    model = resnet(14, in_channels=shape[1], dims=dims, preact=preact, num_classes=7).eval()
    x = torch.randn(shape)
    out = model(x)
    assert out.shape == (4, 7)
    h = model.stem(x)
    for block in model.blocks:
        h = block(h)
    torch.testing.assert_close(model.head(h), out)
    assert len(model.blocks) == 3 * blocks_per_stage(14)
    assert [b.downsample for b in model.blocks] == [False, False, True, False, True, False]


def test_block_identities():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8)
    for residual, preact in [(True, False), (True, True), (False, False), (False, True)]:
        model = resnet(8, residual=residual, preact=preact).eval()
        block = model.blocks[0]
        out = block(x)
        if residual and not preact:
            expected = F.relu(block.shortcut(x) + block.branch(x))
        elif residual:
            expected = block.shortcut(x) + block.branch(x)
        elif not preact:
            expected = F.relu(block.branch(x))
        else:
            expected = block.branch(x)
        torch.testing.assert_close(out, expected)


def test_option_a_subsamples_and_zero_pads():
    shortcut = ZeroPadShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 16:]) == 0
    y1 = ZeroPadShortcut(8, 16, stride=2)(torch.randn(3, 8, 10))
    assert y1.shape == (3, 16, 5) and torch.count_nonzero(y1[:, 8:]) == 0


@pytest.mark.parametrize("bad,nearest", [(21, "20 and 26"), (7, "8 and 14"), (57, "56 and 62")])
def test_invalid_depth_names_nearest_valid_depths(bad, nearest):
    with pytest.raises(ValueError, match=nearest):
        resnet(bad)


def test_invalid_options_are_clear_errors():
    with pytest.raises(ValueError, match="shortcut"):
        resnet(20, shortcut="C")
    with pytest.raises(ValueError, match="dims"):
        resnet(20, dims=3)
    with pytest.raises(ValueError, match="three stage widths"):
        resnet(20, width=(8, 16))
