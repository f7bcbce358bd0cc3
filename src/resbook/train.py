"""One training run: a config that names it fully, SGD with step schedule and warm-up, per-epoch metrics.

This module (with `models` and `data`) is the training maths: the run cache's key hashes these three files.
What only makes a run fast (layouts, compiling, fused kernels) lives in `speed`, which the key does not hash;
the numerics it chooses (device type, precision) are part of the key instead (see `runs.cache`).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import data as data_mod
from . import resume
from .models import NetKind, ResNet, eval_mode, resnet
from .profiles import Profile
from .speed import Speedups, default_device, stepper

# (in_channels, dims, num_classes) of each data set, so a cached model can be rebuilt without its data
SHAPES = {"digits": (1, 2, 10), "mnist1d": (1, 1, 10), "fashion_mnist": (1, 2, 10), "fashion_slice": (1, 2, 10),
          "cifar10": (3, 2, 10)}


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
    arch: str = "cifar"  # block layout: see models.ARCHS
    # the seeds trained together with this one as one batched computation (`batched`), this one included;
    # () when trained alone. Part of the run's identity: rounding differs between the two ways
    trained_with: tuple[int, ...] = ()

    def __post_init__(self):
        if self.trained_with and self.seed not in self.trained_with:
            raise ValueError(f"seed {self.seed} is not in its group trained_with={self.trained_with}")

    @property
    def kind(self) -> NetKind:
        return NetKind.of(self.residual, self.shortcut)

    @property
    def label(self) -> str:
        """A name for people (progress bars, reports); code decides by the fields, never by this."""
        kind = self.kind.value
        extra = f" ({self.active_branches} active)" if self.active_branches else ""
        extra += " (option B)" if self.shortcut == "B" else ""
        extra += f" ({self.arch})" if self.arch != "cifar" else ""
        if self.shared:
            extra += f" (top {self.shared} shared, BN {self.shared_bn})"
        return f"{'preact-' if self.preact else ''}{kind}-{self.depth}{extra}"

    def build_model(self) -> ResNet:
        in_channels, dims, num_classes = SHAPES[self.dataset]
        return resnet(self.depth, residual=self.residual, width=self.width, shortcut=self.shortcut,
                      preact=self.preact, in_channels=in_channels, num_classes=num_classes, dims=dims,
                      shared=self.shared, shared_bn=self.shared_bn, arch=self.arch)

    def as_dict(self) -> dict:
        return asdict(self)


def config_for(profile: Profile, dataset: str, depth: int, *, seed: int = 0, **model) -> TrainConfig:
    """The TrainConfig that `profile` prescribes; `model` sets residual, shortcut, preact, arch, width, ..."""
    warmup = profile.warmup_epochs if depth >= profile.warmup_min_depth else 0.0
    settings = dict(
        dataset=dataset, depth=depth, width=tuple(profile.widths), seed=seed, epochs=profile.epochs,
        batch_size=profile.batch_size, lr=profile.lr, momentum=profile.momentum,
        weight_decay=profile.weight_decay, milestones=tuple(profile.milestones), warmup_epochs=warmup,
        augment=profile.augment, trained_with=tuple(profile.seeds) if profile.batch_seeds else (),
    )
    if model.get("active_branches"):  # short-path training draws a path per net: never batched
        settings["trained_with"] = ()
    return TrainConfig(**{**settings, **model})


@dataclass
class TrainResult:
    config: TrainConfig
    model: ResNet
    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # epoch -> weights
    numerics: str = "cpu-fp32"  # device type and precision it was trained with (speed.Speedups.numerics)
    resumed_from: tuple[int, int] | None = None  # (epoch, batch) it continued from after an interruption

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
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000, *,
             prepare=None, speedups: Speedups | None = None) -> tuple[float, float]:
    """Mean cross-entropy and error rate (0-1) in eval mode; `prepare` turns stored inputs into net inputs."""
    loss = torch.zeros((), device=x.device)
    wrong = torch.zeros((), device=x.device, dtype=torch.long)
    with eval_mode(model):
        for xb, yb in data_mod.batches(x, y, batch_size):
            xb = prepare(xb) if prepare else xb
            if speedups:
                with speedups.autocast(x.device):
                    logits = model(speedups.layout(xb)).float()
            else:
                logits = model(xb)
            loss += F.cross_entropy(logits, yb, reduction="sum")
            wrong += (logits.argmax(1) != yb).sum()
    return loss.item() / len(y), wrong.item() / len(y)  # one device sync per evaluation, not per batch


# training error is measured on at most this many training examples (all of digits and MNIST-1D, a fixed
# fifth of CIFAR-10), so evaluation stays a small part of a paper-length run
TRAIN_EVAL_EXAMPLES = 10_000


def prepare_batch(dataset: data_mod.Dataset, xb: torch.Tensor, augment: bool, generator: torch.Generator,
                  speedups: Speedups) -> torch.Tensor:
    """Stored batch -> network input, on the batch's device: augment (uint8 or float), normalise, lay out."""
    if augment and (dataset.pad or dataset.flip):
        xb = data_mod.augment(xb, dataset.pad, dataset.flip, generator)
    return speedups.layout(dataset.prepare(xb))


def train(
    config: TrainConfig,
    dataset: data_mod.Dataset | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    state: str | os.PathLike | None = None,
) -> TrainResult:
    """Train the net that `config` names from scratch; deterministic on the CPU for a given seed.

    The data set stays on `device` for the whole run (CIFAR-10 as uint8 pixels, augmented there). With
    `state`, the run keeps its resumable state in that file (see `resume`) and, when the file holds one,
    continues from it: the result is bit-identical to an uninterrupted run on the CPU.
    """
    device = torch.device(device) if device is not None else default_device()
    dataset = (dataset or data_mod.load(config.dataset, pixels=True)).to(device)
    steps_per_epoch = -(-len(dataset.train_y) // config.batch_size)
    fast = Speedups.choose(device, dataset, config.epochs * steps_per_epoch,
                           short_paths=bool(config.active_branches))
    run = stepper(config, dataset, device, fast)
    generator = torch.Generator().manual_seed(config.seed)
    train_eval = (dataset.train_x[:TRAIN_EVAL_EXAMPLES], dataset.train_y[:TRAIN_EVAL_EXAMPLES])
    history: dict[str, list[float]] = {k: [] for k in
                                       ("epoch", "lr", "train_loss", "train_err", "test_loss", "test_err", "seconds")}
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    step, first_epoch, skip, elapsed, resumed_from = 0, 1, 0, 0.0, None
    keeper = resume.Keeper(state, config.as_dict()) if state is not None else None
    saved = keeper.read() if keeper else None
    if saved:
        run.model.load_state_dict(saved["model"])
        run.optimizer.load_state_dict(saved["optimizer"])
        history, checkpoints = saved["history"], saved["checkpoints"]
        step, first_epoch, skip, elapsed = saved["step"], saved["epoch"], saved["batch"], saved["seconds"]
        generator.set_state(saved["epoch_generator"])  # so the epoch in progress draws the same order
        torch.set_rng_state(saved["torch_generator"])
        resumed_from = (first_epoch, skip)
        if progress:
            tqdm.write(f"{config.label} (seed {config.seed}): resuming at epoch {first_epoch}, batch {skip}")
    start = time.perf_counter() - elapsed

    def snapshot(epoch: int, batch: int, epoch_generator: torch.Tensor) -> dict:
        """Everything a restarted run needs to continue before batch `batch` of epoch `epoch`."""
        return {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(), "history": history,
                "checkpoints": checkpoints, "step": step, "epoch": epoch, "batch": batch,
                "seconds": time.perf_counter() - start, "epoch_generator": epoch_generator,
                "generator": generator.get_state(), "torch_generator": torch.get_rng_state()}

    bar = tqdm(range(first_epoch, config.epochs + 1), desc=config.label, disable=not progress, leave=False,
               initial=first_epoch - 1, total=config.epochs)
    for epoch in bar:
        run.model.train()
        epoch_generator = generator.get_state()
        for index, (xb, yb) in enumerate(data_mod.batches(dataset.train_x, dataset.train_y, config.batch_size,
                                                          shuffle=True, generator=generator)):
            if index < skip:  # trained before the interruption: same order, nothing drawn
                continue
            if index == skip and skip:
                generator.set_state(saved["generator"])  # the draws made so far in this epoch
            xb = prepare_batch(dataset, xb, config.augment, generator, fast)
            lr = learning_rate(config, step, steps_per_epoch)
            with _short_paths_only(run.model, config.active_branches, generator):
                run.step(xb, yb, lr)
            step += 1
            if keeper and index + 1 < steps_per_epoch and keeper.due():
                keeper.write(snapshot(epoch, index + 1, epoch_generator))
        skip = 0
        train_loss, train_err = evaluate(run.forward, *train_eval, prepare=dataset.prepare, speedups=fast)
        test_loss, test_err = evaluate(run.forward, dataset.test_x, dataset.test_y, prepare=dataset.prepare,
                                       speedups=fast)
        for key, value in zip(history, (epoch, lr, train_loss, train_err, test_loss, test_err,
                                        time.perf_counter() - start), strict=True):
            history[key].append(value)
        if epoch in config.checkpoints:
            checkpoints[epoch] = {k: v.detach().cpu().contiguous().clone()
                                  for k, v in run.model.state_dict().items()}
        bar.set_postfix(train_err=f"{train_err:.3f}", test_err=f"{test_err:.3f}")
        if keeper and keeper.due(epoch_end=True):
            keeper.write(snapshot(epoch + 1, 0, generator.get_state()))
    model = run.model.cpu().to(memory_format=torch.contiguous_format)
    return TrainResult(config, model.eval(), history, checkpoints, fast.numerics, resumed_from)
