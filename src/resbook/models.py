"""He et al.'s CIFAR ResNet family (6n+2 layers), plain twins, pre-activation variants, 1-D or 2-D.

A network is `stem -> blocks -> head`. Every block exposes `shortcut(h)`, `branch(h)` (the residual
function F), `downsample` and its `stage` (1, 2, 3; `first_of_stage`), so that probes can take a net apart
without knowing how it was built; `ResNet.block_info()` lists that layout and `ResNet.features(x)` every block's
input and output. `eval_mode(model)` is the one way probes switch a net to eval mode.
"""

from __future__ import annotations

import contextlib
import enum
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# A: identity, zero-padded where the shape changes (He et al.'s option A); B: 1x1 projection where the
# shape changes (option B); gated: a highway network's learned gate between the option-A shortcut and the
# branch (Srivastava et al. 2015)
SHORTCUTS = ("A", "B", "gated")
# How blocks are laid out (Jastrzebski et al. Fig. 2-4): cifar - He et al.'s three stages of widths w/2w/4w
# joined by strided blocks; single - one stage, every block at the input's resolution and one width;
# avgpool - three groups at one width, joined by 2x2 average pooling in front of a group's first block
ARCHS = ("cifar", "single", "avgpool")
# How a group of shared blocks treats batch norm (Jastrzebski et al. Sec. 4.5):
#   shared   - naive sharing: every application uses the same BN statistics and scale/shift
#   unshared - UBN: each application has its own statistics and its own scale/shift, scale starting at 0.1
#   stats    - own statistics only;  affine - own scale/shift only;  init - all shared, scale starting at 0.1
SHARED_BN = ("shared", "unshared", "stats", "affine", "init")
# How a net normalises (Chapter 5): batch - batch norm, as He et al.; none - no normalisation, each batch norm
# replaced by what is left of it, a learned per-channel shift starting at 0 (a bias), as in Fixup and SkipInit
NORMS = ("batch", "none")


class NetKind(str, enum.Enum):
    """The kind of net: how a block joins its input to its branch."""

    PLAIN = "plain"  # no shortcut: h -> F(h)
    RESIDUAL = "residual"  # h -> shortcut(h) + F(h)
    HIGHWAY = "highway"  # h -> T * F(h) + (1 - T) * shortcut(h), a learned gate T

    @classmethod
    def of(cls, residual: bool, shortcut: str) -> NetKind:
        if not residual:
            return cls.PLAIN
        return cls.HIGHWAY if shortcut == "gated" else cls.RESIDUAL
_CONV = (nn.Conv1d, nn.Conv2d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d)


def valid_depths(limit: int = 1202) -> list[int]:
    """Depths of the family: 6n + 2 for n >= 1."""
    return [6 * n + 2 for n in range(1, (limit - 2) // 6 + 1)]


def blocks_per_stage(depth: int) -> int:
    """n for depth = 6n + 2; a ValueError naming the nearest valid depths otherwise."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        try:
            lower = max(8, 6 * int((float(depth) - 2) // 6) + 2)
        except (TypeError, ValueError):
            lower = 8
        raise ValueError(
            f"depth must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, ..., 56, ..., 110); got {depth!r}. "
            f"Nearest valid depths: {lower} and {lower + 6}."
        )
    return (depth - 2) // 6


def _layers(dims: int, norm: str = "batch") -> tuple[type[nn.Module], Callable[[int], nn.Module]]:
    """The convolution class and a factory of the normalisation layer (channels -> module) for `dims`."""
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (sequences, e.g. MNIST-1D) or 2 (images); got {dims!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}; got {norm!r}")
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    if norm == "none":
        return conv, functools.partial(ChannelShift, dims=dims)
    return conv, nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d


class ChannelShift(nn.Module):
    """A learned shift per channel, starting at 0: what a net without normalisation keeps of batch norm."""

    def __init__(self, channels: int, dims: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.dims = dims

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.bias.view(1, -1, *([1] * self.dims))


class BranchScale(nn.Module):
    """SkipInit (De and Smith 2020): one learned scalar multiplying the residual branch, starting at 0, so that
    every block starts as the identity."""

    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.alpha * h


class ZeroPadShortcut(nn.Module):
    """He et al.'s option A: identity, subsampled by `stride`, with zero channels appended."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * (h.dim() - 2)
            h = h[index]
        if self.extra_channels:
            pad = [0, 0] * (h.dim() - 2) + [0, self.extra_channels]
            h = F.pad(h, pad)
        return h


# Srivastava et al. advise a gate bias of -1 to -3, more negative for deeper nets; at -1 a 56-layer net
# carries only 0.73 of its input per block (0.73^27 ~ 2e-4 over 27 blocks) and failed to train here
# (74 % training error on the digits at the ci profile), at -3 it trained (2 %)
HIGHWAY_GATE_BIAS = -3.0


class Gate(nn.Module):
    """Highway gate T(h) = sigmoid(1x1 conv(h)), biased towards carrying the input at the start."""

    def __init__(self, channels: int, dims: int, bias: float = HIGHWAY_GATE_BIAS):
        super().__init__()
        conv, _ = _layers(dims)
        self.transform = conv(channels, channels, 1)
        nn.init.constant_(self.transform.bias, bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.transform(h))


def projection_shortcut(in_channels: int, out_channels: int, stride: int, dims: int, norm: str = "batch") -> nn.Module:
    """Option B: a strided 1x1 convolution (and BN) where the shape changes."""
    conv, norm_layer = _layers(dims, norm)
    return nn.Sequential(conv(in_channels, out_channels, 1, stride=stride, bias=False), norm_layer(out_channels))


class Block(nn.Module):
    """One residual block (or its plain twin): two 3x3 convolutions with batch norm.

    post-activation (He et al. 2016a): branch = conv-BN-ReLU-conv-BN, out = relu(shortcut + branch)
    pre-activation (He et al. 2016b): branch = BN-ReLU-conv-BN-ReLU-conv, out = shortcut + branch
    gated (highway): out = relu(T * branch + (1 - T) * shortcut), T = sigmoid(1x1 conv of the shortcut)
    plain: out = relu(branch) (post) or branch (pre); the shortcut is kept for lesion studies.
    `pool`: the block first average-pools its input 2x2 (the joints of the avgpool layout).
    `norm` (NORMS): "none" puts a learned shift where batch norm was; `skipinit` ends the branch with a
    learned scalar that starts at 0 (`BranchScale`), part of F so that every probe sees it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        residual: bool = True,
        shortcut: str = "A",
        preact: bool = False,
        dims: int = 2,
        pool: bool = False,
        norm: str = "batch",
        skipinit: bool = False,
    ):
        super().__init__()
        if skipinit and not residual:
            raise ValueError("skipinit scales a residual branch; a plain block has none (use residual=True)")
        conv, norm_layer = _layers(dims, norm)
        self.residual = residual
        self.preact = preact
        self.downsample = stride != 1 or in_channels != out_channels or pool
        self.stage = 1  # set by `resnet`: the stage (1-3) this block belongs to
        self.first_of_stage = False
        self.width = out_channels  # channels of the block's output
        conv1 = conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        conv2 = conv(out_channels, out_channels, 3, padding=1, bias=False)
        if preact:
            layers = [norm_layer(in_channels), nn.ReLU(), conv1, norm_layer(out_channels), nn.ReLU(), conv2]
        else:
            layers = [conv1, norm_layer(out_channels), nn.ReLU(), conv2, norm_layer(out_channels)]
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}; got {shortcut!r}")
        pooling = [nn.AvgPool2d(2) if dims == 2 else nn.AvgPool1d(2)] if pool else []
        self.branch = nn.Sequential(*pooling, *layers, *([BranchScale()] if skipinit else []))
        if not (stride != 1 or in_channels != out_channels):
            self.shortcut: nn.Module = nn.Sequential(*pooling) if pool else nn.Identity()
        elif shortcut == "B":
            self.shortcut = projection_shortcut(in_channels, out_channels, stride, dims, norm)
        else:
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)
        self.gate = Gate(out_channels, dims) if shortcut == "gated" and residual else None

    def combine(self, skip: torch.Tensor | None, branch: torch.Tensor) -> torch.Tensor:
        """How the block joins its two paths (skip is None for a plain block)."""
        if skip is None:
            out = branch
        elif self.gate is not None:
            t = self.gate(skip)
            out = t * branch + (1 - t) * skip
        else:
            out = skip + branch
        return out if self.preact else F.relu(out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut(h) if self.residual else None
        return self.combine(skip, self.branch(h))


@dataclass(frozen=True)
class BlockInfo:
    """Where one block sits in its net (`ResNet.block_info`), so that probes need not work it out."""

    index: int  # 0-based, in forward order
    stage: int  # 1, 2 or 3
    first_of_stage: bool
    downsample: bool  # its output has another shape than its input (strided, wider or pooled)
    width: int  # channels of its output


class ResNet(nn.Module):
    """stem -> blocks (flat, in forward order) -> head."""

    def __init__(self, stem: nn.Module, blocks: Sequence[nn.Module], head: nn.Module):
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    @property
    def stages(self) -> list[int]:
        """The stage (1, 2, 3) of every block, in forward order."""
        return [block.stage for block in self.blocks]

    def block_info(self) -> list[BlockInfo]:
        """Every block's index, stage, whether it starts its stage or downsamples, and width, in forward order
        (the layout timm's `feature_info` describes); `features(x)[i]` is block i's input."""
        return [BlockInfo(i, b.stage, bool(b.first_of_stage), bool(b.downsample), b.width)
                for i, b in enumerate(self.blocks)]

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """h_0 = stem(x), then the output of every block: len(blocks) + 1 tensors."""
        hs = [self.stem(x)]
        for block in self.blocks:
            hs.append(block(hs[-1]))
        return hs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def _stage_widths(width: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(width, int):
        return (width, 2 * width, 4 * width)
    widths = tuple(int(w) for w in width)
    if len(widths) != 3:
        raise ValueError(f"width must be an int or three stage widths; got {width!r}")
    return widths  # type: ignore[return-value]


def resnet(
    depth: int,
    *,
    residual: bool = True,
    width: int | Sequence[int] = 16,
    shortcut: str = "A",
    preact: bool = False,
    in_channels: int = 3,
    num_classes: int = 10,
    dims: int = 2,
    shared: int = 0,
    shared_bn: str = "shared",
    arch: str = "cifar",
    norm: str = "batch",
    skipinit: bool = False,
) -> ResNet:
    """He et al.'s CIFAR network of `depth` = 6n+2 layers: 3 stages of n blocks, widths w/2w/4w.

    `residual=False` gives the plain twin (same parameters with option-A shortcuts).
    `shortcut` is "A", "B" or "gated" (a highway net); `arch` lays the 3n blocks out as in ARCHS (the
    single and avgpool layouts use the middle width everywhere). A wide ResNet is a pre-activation net
    with a larger `width`, e.g. width=(64, 128, 256) for widening factor 4.
    `preact=True` gives the pre-activation variant used by Jastrzebski et al. `dims=1` uses
    1-D convolutions (for MNIST-1D). `shared=m` makes the top m blocks of every stage apply one set of
    convolution weights m times; `shared_bn` says how they treat batch norm (see SHARED_BN).
    `norm="none"` drops normalisation (NORMS); `skipinit=True` starts every residual branch at 0 (De and
    Smith 2020): the two options of Chapter 5's training without normalisation.
    """
    n = blocks_per_stage(depth)
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}; got {shortcut!r}")
    if not 0 <= shared <= n - 1:
        raise ValueError(f"shared must be between 0 and {n - 1} (blocks per stage minus the downsampling one) "
                         f"for depth {depth}; got {shared}")
    if shared_bn not in SHARED_BN:
        raise ValueError(f"shared_bn must be one of {SHARED_BN}; got {shared_bn!r}")
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}; got {arch!r}")
    if skipinit and not residual:
        raise ValueError("skipinit scales residual branches; a plain net has none (use residual=True)")
    if skipinit and shortcut == "gated":
        raise ValueError("skipinit is for residual nets; a highway net's gate already starts near the identity")
    conv, norm_layer = _layers(dims, norm)
    widths = _stage_widths(width)
    if arch != "cifar":
        widths = (widths[1],) * 3

    stem_layers: list[nn.Module] = [conv(in_channels, widths[0], 3, padding=1, bias=False)]
    if not preact:  # a pre-activation net normalises at the start of every block instead
        stem_layers += [norm_layer(widths[0]), nn.ReLU()]
    stem = nn.Sequential(*stem_layers)

    blocks: list[Block] = []
    groups: list[list[Block]] = []
    channels = widths[0]
    for stage, out_channels in enumerate(widths):
        stage_blocks = []
        for i in range(n):
            joint = stage > 0 and i == 0
            stride = 2 if joint and arch == "cifar" else 1
            block = Block(channels, out_channels, stride, residual=residual, shortcut=shortcut,
                          preact=preact, dims=dims, pool=joint and arch == "avgpool", norm=norm,
                          skipinit=skipinit)
            block.stage, block.first_of_stage = stage + 1, i == 0
            stage_blocks.append(block)
            channels = out_channels
        blocks += stage_blocks
        if shared > 1:
            groups.append(stage_blocks[n - shared:])

    pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1)
    head_layers: list[nn.Module] = [norm_layer(channels), nn.ReLU()] if preact else []
    head = nn.Sequential(*head_layers, pool, nn.Flatten(), nn.Linear(channels, num_classes))

    model = ResNet(stem, blocks, head)
    _init_weights(model)
    for group in groups:
        _share(group, shared_bn)
    return model


def _share(group: list[Block], bn_mode: str) -> None:
    """Make every block of `group` use the first one's convolutions; batch norm as `bn_mode` says."""
    owner = group[0]
    for block in group[1:]:
        for idx, layer in enumerate(owner.branch):
            mine = block.branch[idx]
            if isinstance(layer, _CONV) or (isinstance(layer, _NORM) and bn_mode in ("shared", "init")):
                block.branch[idx] = layer
            elif isinstance(layer, _NORM) and bn_mode == "stats":  # own statistics, shared scale/shift
                mine.weight, mine.bias = layer.weight, layer.bias
            elif isinstance(layer, _NORM) and bn_mode == "affine":  # own scale/shift, shared statistics
                mine.running_mean, mine.running_var = layer.running_mean, layer.running_var
                mine.num_batches_tracked = layer.num_batches_tracked
    if bn_mode in ("unshared", "init"):
        for block in group:
            for layer in block.branch:
                if isinstance(layer, _NORM):
                    nn.init.constant_(layer.weight, 0.1)


def _init_weights(model: nn.Module) -> None:
    """He (Kaiming) normal init for convolutions, as in the paper; BN starts as the identity."""
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, `model` is in eval mode (running BN statistics); its mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
