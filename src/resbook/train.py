"""One training run: a config that names it fully, SGD with step schedule and warm-up, per-epoch metrics."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import data as data_mod
from .models import ResNet, resnet
from .profiles import Profile

# (in_channels, dims, num_classes) of each data set, so a cached model can be rebuilt without its data
SHAPES = {"digits": (1, 2, 10), "mnist1d": (1, 1, 10), "cifar10": (3, 2, 10)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so its cache key)."""

    dataset: str
    depth: int
    residual: bool = True
    width: tuple[int, int, int] = (16, 32, 64)
    shortcut: str = "A"
    preact: bool = False
    seed: int = 0
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[float, ...] = (0.5, 0.75)
    warmup_epochs: float = 0.0
    augment: bool = False
    # >0: in each mini-batch only this many randomly chosen residual branches pass gradient (Veit et
    # al.'s training with short paths only); the forward pass is unchanged
    active_branches: int = 0
    shared: int = 0  # the top `shared` blocks of each stage share their weights (Jastrzebski Sec. 4.5)
    shared_bn: str = "shared"  # how shared blocks treat batch norm: see models.SHARED_BN
    checkpoints: tuple[int, ...] = ()  # epochs after which to keep a copy of the weights

    @property
    def label(self) -> str:
        kind = "residual" if self.residual else "plain"
        extra = f" ({self.active_branches} active)" if self.active_branches else ""
        if self.shared:
            extra += f" (top {self.shared} shared, BN {self.shared_bn})"
        return f"{'preact-' if self.preact else ''}{kind}-{self.depth}{extra}"

    def build_model(self) -> ResNet:
        in_channels, dims, num_classes = SHAPES[self.dataset]
        return resnet(self.depth, residual=self.residual, width=self.width, shortcut=self.shortcut,
                      preact=self.preact, in_channels=in_channels, num_classes=num_classes, dims=dims,
                      shared=self.shared, shared_bn=self.shared_bn)

    def as_dict(self) -> dict:
        return asdict(self)


def config_for(profile: Profile, dataset: str, depth: int, *, seed: int = 0, **model) -> TrainConfig:
    """The TrainConfig that `profile` prescribes; `model` sets residual, shortcut, preact."""
    warmup = profile.warmup_epochs if depth >= profile.warmup_min_depth else 0.0
    return TrainConfig(
        dataset=dataset, depth=depth, width=tuple(profile.widths), seed=seed, epochs=profile.epochs,
        batch_size=profile.batch_size, lr=profile.lr, momentum=profile.momentum,
        weight_decay=profile.weight_decay, milestones=tuple(profile.milestones), warmup_epochs=warmup,
        augment=profile.augment, **model,
    )


@dataclass
class TrainResult:
    config: TrainConfig
    model: ResNet
    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # epoch -> weights

    def model_at(self, epoch: int) -> ResNet:
        """The net as it was after `epoch` (one of config.checkpoints, or the last epoch)."""
        if epoch == self.config.epochs:
            return self.model
        if epoch not in self.checkpoints:
            kept = [*sorted(self.checkpoints), self.config.epochs]
            raise KeyError(f"no weights kept after epoch {epoch}; kept after epochs {kept}")
        model = self.config.build_model()
        model.load_state_dict(self.checkpoints[epoch])
        return model.eval()

    @property
    def final(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items()}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Step schedule: lr/10 during warm-up, then lr divided by 10 at each milestone."""
    total = config.epochs * steps_per_epoch
    if step < round(config.warmup_epochs * steps_per_epoch):
        return config.lr * 0.1
    drops = sum(step >= round(m * total) for m in config.milestones)
    return config.lr * 0.1**drops


@contextlib.contextmanager
def _short_paths_only(model: ResNet, active: int, generator: torch.Generator):
    """Detach the branch outputs of all but `active` random blocks: no gradient path is longer than `active`."""
    if not active:
        yield
        return
    n = len(model.blocks)
    if not 0 < active <= n:
        raise ValueError(f"active_branches must be between 1 and the number of blocks ({n}); got {active}")
    keep = set(torch.randperm(n, generator=generator)[:active].tolist())
    handles = [b.branch.register_forward_hook(lambda _m, _i, out: out.detach())
               for i, b in enumerate(model.blocks) if i not in keep]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and error rate (0-1) in eval mode."""
    was_training = model.training
    model.eval()
    loss, wrong = 0.0, 0
    for xb, yb in data_mod.batches(x, y, batch_size):
        logits = model(xb)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        wrong += (logits.argmax(1) != yb).sum().item()
    model.train(was_training)
    return loss / len(y), wrong / len(y)


def train(
    config: TrainConfig,
    dataset: data_mod.Dataset | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the net that `config` names from scratch; deterministic on the CPU for a given seed."""
    device = torch.device(device) if device is not None else default_device()
    dataset = (dataset or data_mod.load(config.dataset)).to(device)
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(dataset.train_y) // config.batch_size)
    history: dict[str, list[float]] = {k: [] for k in
                                       ("epoch", "lr", "train_loss", "train_err", "test_loss", "test_err", "seconds")}
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    step = 0
    start = time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc=config.label, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        for xb, yb in data_mod.batches(dataset.train_x, dataset.train_y, config.batch_size,
                                       shuffle=True, generator=generator):
            if config.augment and (dataset.pad or dataset.flip):
                xb = data_mod.augment(xb, dataset.pad, dataset.flip, generator)
            lr = learning_rate(config, step, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with _short_paths_only(model, config.active_branches, generator):
                loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
        train_loss, train_err = evaluate(model, dataset.train_x, dataset.train_y)
        test_loss, test_err = evaluate(model, dataset.test_x, dataset.test_y)
        for key, value in zip(history, (epoch, lr, train_loss, train_err, test_loss, test_err,
                                        time.perf_counter() - start), strict=True):
            history[key].append(value)
        if epoch in config.checkpoints:
            checkpoints[epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(train_err=f"{train_err:.3f}", test_err=f"{test_err:.3f}")
    return TrainResult(config, model.cpu().eval(), history, checkpoints)
