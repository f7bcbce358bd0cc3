import pytest
import torch
from torch.nn import functional as F

from resbook.models import ChannelShift, ZeroPadShortcut, blocks_per_stage, count_parameters, resnet
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


def test_shared_resnet110_has_the_distinct_blocks_of_resnet38():
    shared = resnet(110, preact=True, shared=13)
    r38 = resnet(38, preact=True)
    # 6 distinct blocks a stage; only the BN layers of the extra applications would add parameters
    assert count_parameters(shared) == count_parameters(r38)
    ubn = resnet(110, preact=True, shared=13, shared_bn="unshared")
    bn_params = sum(2 * m.num_features for b in ubn.blocks for m in b.branch if isinstance(m, torch.nn.BatchNorm2d))
    bn38 = sum(2 * m.num_features for b in r38.blocks for m in b.branch if isinstance(m, torch.nn.BatchNorm2d))
    assert count_parameters(ubn) - count_parameters(r38) == bn_params - bn38


def test_sharing_modes_share_what_they_say():
    def bns(block):
        return [m for m in block.branch if isinstance(m, torch.nn.BatchNorm2d)]

    naive = resnet(20, preact=True, shared=2)
    a, b = naive.blocks[1], naive.blocks[2]  # the top two blocks of stage 1
    assert a.branch[2] is b.branch[2] and bns(a)[0] is bns(b)[0]
    assert naive.blocks[0].branch[2] is not a.branch[2]
    ubn = resnet(20, preact=True, shared=2, shared_bn="unshared")
    a, b = ubn.blocks[1], ubn.blocks[2]
    assert a.branch[2] is b.branch[2] and bns(a)[0] is not bns(b)[0]
    assert torch.all(bns(b)[0].weight == 0.1) and torch.all(bns(ubn.blocks[0])[0].weight == 1)
    stats = resnet(20, preact=True, shared=2, shared_bn="stats")
    a, b = stats.blocks[1], stats.blocks[2]
    assert bns(a)[0].weight is bns(b)[0].weight and bns(a)[0].running_mean is not bns(b)[0].running_mean
    affine = resnet(20, preact=True, shared=2, shared_bn="affine")
    a, b = affine.blocks[1], affine.blocks[2]
    assert bns(a)[0].weight is not bns(b)[0].weight and bns(a)[0].running_mean is bns(b)[0].running_mean
    affine.train()(torch.randn(4, 3, 32, 32))  # shared statistics stay shared after an update
    assert bns(a)[0].running_mean is bns(b)[0].running_mean


def test_sharing_bad_arguments():
    with pytest.raises(ValueError, match="shared must be between 0 and 2"):
        resnet(20, shared=3)
    with pytest.raises(ValueError, match="shared_bn"):
        resnet(20, shared=2, shared_bn="some")


def test_option_b_projects_only_where_the_shape_changes():
    a, b = resnet(20), resnet(20, shortcut="B")
    # two projections (16->32, 32->64 channels), each a 1x1 conv and a batch norm (scale and shift)
    assert count_parameters(b) - count_parameters(a) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


def test_highway_block_mixes_shortcut_and_branch_by_its_gate():
    torch.manual_seed(0)
    model = resnet(8, shortcut="gated").eval()
    gates = [b.gate for b in model.blocks]
    assert all(g is not None for g in gates)
    # one 1x1 conv (with bias) per block on the block's output channels
    extra = sum(c * c + c for c in (16, 32, 64))
    assert count_parameters(model) == count_parameters(resnet(8)) + extra
    block = model.blocks[1]
    h = torch.randn(2, 16, 16, 16)
    skip, branch = block.shortcut(h), block.branch(h)
    t = torch.sigmoid(block.gate.transform(skip))
    torch.testing.assert_close(block(h), F.relu(t * branch + (1 - t) * skip))
    assert 0.02 < t.mean().item() < 0.1  # the bias -3 starts the gate mostly carrying the input
    assert resnet(8, shortcut="gated", residual=False).blocks[0].gate is None  # a plain net has no gate


@pytest.mark.parametrize("arch,sizes,channels", [
    ("cifar", [16, 16, 16, 8, 8, 4, 4], [16, 16, 16, 32, 32, 64, 64]),
    ("single", [16] * 7, [32] * 7),
    ("avgpool", [16, 16, 16, 8, 8, 4, 4], [32] * 7),
])
def test_block_layouts(arch, sizes, channels):
    model = resnet(14, arch=arch, preact=True).eval()
    hs = model.features(torch.randn(2, 3, 16, 16))
    assert [h.shape[-1] for h in hs] == sizes and [h.shape[1] for h in hs] == channels
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    downsampling = [b.downsample for b in model.blocks]
    assert downsampling == ([False] * 6 if arch == "single" else [False, False, True, False, True, False])


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(ValueError, match="arch must be one of"):
        resnet(8, arch="dense")


def test_block_info_describes_the_layout():
    model = resnet(20, width=(4, 8, 16))
    info = model.block_info()
    assert [b.index for b in info] == list(range(9))
    assert [b.stage for b in info] == [1, 1, 1, 2, 2, 2, 3, 3, 3] == model.stages
    assert [b.index for b in info if b.downsample] == [3, 6]
    assert [b.index for b in info if b.first_of_stage] == [0, 3, 6]
    assert [b.width for b in info] == [4, 4, 4, 8, 8, 8, 16, 16, 16]
    hs = model.features(torch.randn(2, 3, 8, 8))
    assert [h.shape[1] for h in hs[1:]] == [b.width for b in info]  # a block's width is its output's channels
    single = resnet(20, width=(4, 8, 16), arch="single").block_info()
    assert [b.stage for b in single] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert not any(b.downsample for b in single) and {b.width for b in single} == {8}


@pytest.mark.parametrize("preact", [False, True])
def test_without_normalisation_every_batch_norm_becomes_a_shift(preact):
    normed, bare = resnet(20, preact=preact), resnet(20, preact=preact, norm="none")
    bns = [m for m in normed.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in bare.modules())
    assert len([m for m in bare.modules() if isinstance(m, ChannelShift)]) == len(bns)
    # a shift keeps batch norm's bias, not its scale
    assert count_parameters(bare) == count_parameters(normed) - sum(m.weight.numel() for m in bns)
    assert not list(bare.buffers())  # no running statistics: eval and train modes compute the same
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(bare.train()(x), bare.eval()(x))


@pytest.mark.parametrize("norm", ["batch", "none"])
@pytest.mark.parametrize("preact", [False, True])
def test_skipinit_blocks_start_as_their_shortcut_and_learn_away_from_it(norm, preact):
    model = resnet(14, norm=norm, preact=preact, skipinit=True).eval()
    h = model.stem(torch.randn(2, 3, 32, 32))
    for block in model.blocks:
        out = block(h)
        torch.testing.assert_close(out, block.shortcut(h), rtol=0, atol=0)
        h = out
    alphas = [b.branch[-1].alpha for b in model.blocks]
    assert all(a.requires_grad and a.item() == 0 for a in alphas)
    with torch.no_grad():
        alphas[0].fill_(0.5)
    x = model.stem(torch.randn(2, 3, 32, 32)).relu()
    assert not torch.equal(model.blocks[0](x), model.blocks[0].shortcut(x))


def test_skipinit_and_norm_options_are_checked():
    with pytest.raises(ValueError, match="plain net has none"):
        resnet(14, residual=False, skipinit=True)
    with pytest.raises(ValueError, match="norm must be one of"):
        resnet(14, norm="layer")
    assert count_parameters(resnet(14, skipinit=True)) == count_parameters(resnet(14)) + 6  # one scalar a block
