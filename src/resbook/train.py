"""Training: a config that names a run fully, its initial net, the SGD step, and the one epoch loop.

This module (with `models`, `data` and `batched`) is the training maths: the run cache's key hashes these
files, so everything that decides a run's numbers lives here: seeding and the model build
(`TrainConfig.initial_model`), the optimizer and the loss (`Stepper`), the schedule, the data order, and the
epoch loop (`fit`) that a single run and a group of seeds trained together (`batched`) both use. What only
makes a run fast (layouts, compiling, fused kernels) lives in `speed`, which the key does not hash; the
numerics it chooses (device type, precision) are part of the key instead (see `runs.cache`).

A run whose loss stops being finite, or explodes, is stopped where it happens and kept as *diverged*
(`TrainResult.diverged`): a failed run is a result, not noise.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from . import data as data_mod
from . import resume
from .models import NetKind, ResNet, eval_mode, resnet
from .profiles import Profile
from .speed import Speedups, default_device

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
    norm: str = "batch"  # "none": no normalisation (models.NORMS; Chapter 5)
    skipinit: bool = False  # every residual branch ends in a learned scalar starting at 0 (De and Smith 2020)
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
        extra += " (no norm)" if self.norm == "none" else ""
        extra += " (SkipInit)" if self.skipinit else ""
        if self.shared:
            extra += f" (top {self.shared} shared, BN {self.shared_bn})"
        return f"{'preact-' if self.preact else ''}{kind}-{self.depth}{extra}"

    def initial_model(self) -> ResNet:
        """The net this run starts from: built after seeding torch with the run's seed (its initial weights)."""
        torch.manual_seed(self.seed)
        return self.build_model()

    def build_model(self) -> ResNet:
        in_channels, dims, num_classes = SHAPES[self.dataset]
        return resnet(self.depth, residual=self.residual, width=self.width, shortcut=self.shortcut,
                      preact=self.preact, in_channels=in_channels, num_classes=num_classes, dims=dims,
                      shared=self.shared, shared_bn=self.shared_bn, arch=self.arch, norm=self.norm,
                      skipinit=self.skipinit)

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
    # where the loss stopped being finite or exploded: {"step", "epoch", "loss", "last_finite_loss", "lr"};
    # None for a run that never did. A diverged run's history ends with the last epoch it completed
    diverged: dict | None = None

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
        """The metrics after the last completed epoch (NaN for each when none completed)."""
        return {k: v[-1] if v else math.nan for k, v in self.history.items()}


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


# a loss this many times that of guessing uniformly (ln of the class count) counts as exploded: SGD at the
# book's rates starts near 1x and its worst transients stay within a few times that
EXPLODED_LOSS_FACTOR = 100.0
# on a GPU, losses are copied to the host for the check every this many steps (one sync, not one per step)
LOSS_CHECK_STEPS_GPU = 50
HISTORY_KEYS = ("epoch", "lr", "train_loss", "train_err", "test_loss", "test_err", "seconds")


class LossWatch:
    """Finds, for each net trained, the first step whose loss is not finite or has exploded.

    Losses stay on the device until `check` copies the pending ones in one transfer (every step on a CPU,
    where that costs nothing; every `LOSS_CHECK_STEPS_GPU` steps on a GPU).
    """

    def __init__(self, nets: int, num_classes: int, device: torch.device):
        self.limit = EXPLODED_LOSS_FACTOR * math.log(num_classes)
        self.every = LOSS_CHECK_STEPS_GPU if device.type == "cuda" else 1
        self.pending: list[tuple[int, int, float, torch.Tensor]] = []
        self.last_finite = [math.nan] * nets
        self.diverged: list[dict | None] = [None] * nets

    def add(self, step: int, epoch: int, lr: float, losses: torch.Tensor) -> None:
        self.pending.append((step, epoch, lr, losses.detach()))
        if len(self.pending) >= self.every:
            self.check()

    def check(self) -> list[int]:
        """Look at the pending losses; returns the nets found diverged by this check."""
        if not self.pending:
            return []
        values = torch.stack([losses for *_, losses in self.pending]).float().cpu().tolist()
        found = []
        for (step, epoch, lr, _), row in zip(self.pending, values, strict=True):
            for i, loss in enumerate(row):
                if self.diverged[i] is not None:
                    continue
                if math.isfinite(loss) and loss <= self.limit:
                    self.last_finite[i] = loss
                else:
                    self.diverged[i] = {"step": step, "epoch": epoch, "loss": loss,
                                        "last_finite_loss": self.last_finite[i], "lr": lr}
                    found.append(i)
        self.pending.clear()
        return found

    @property
    def all_diverged(self) -> bool:
        return all(d is not None for d in self.diverged)

    def state(self) -> dict:
        return {"last_finite": self.last_finite, "diverged": self.diverged}

    def load(self, saved: dict) -> None:
        self.last_finite, self.diverged = list(saved["last_finite"]), list(saved["diverged"])


def describe_divergence(diverged: dict) -> str:
    """One line for progress bars, the journal and figures: where the loss blew up, and at which rate."""
    return (f"diverged at step {diverged['step']} (epoch {diverged['epoch']}): loss {diverged['loss']:.3g}, "
            f"last finite loss {diverged['last_finite_loss']:.3g}, lr {diverged['lr']:g}")


class Stepper:
    """One net, its SGD optimizer and its loss: one training step of a single run (`fit` drives it)."""

    # short-path training draws its paths from a generator of its own (seeded from the run's seed plus this),
    # so a short-path run and its normal twin see the same data order in every epoch
    PATH_SEED_OFFSET = 1_000_003

    def __init__(self, config: TrainConfig, device: torch.device, speedups: Speedups):
        self.config, self.device, self.speedups = config, device, speedups
        self.model = speedups.place(config.initial_model(), device)
        self.forward = speedups.compiled(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay, fused=speedups.fused_optimizer)
        self.paths = torch.Generator().manual_seed(config.seed + self.PATH_SEED_OFFSET)

    def step(self, xbs: Sequence[torch.Tensor], ybs: Sequence[torch.Tensor], lr: float) -> torch.Tensor:
        """One SGD step on the batch (`xbs`/`ybs` hold one batch each); returns the loss, shape (1,), on the device."""
        (xb,), (yb,) = xbs, ybs
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with _short_paths_only(self.model, self.config.active_branches, self.paths), \
                self.speedups.autocast(self.device):
            loss = F.cross_entropy(self.forward(xb), yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach().reshape(1)

    def train_mode(self) -> None:
        self.model.train()

    def models(self) -> list[ResNet]:
        """The net (its weights are what gets stored)."""
        return [self.model]

    def forwards(self) -> list[nn.Module]:
        """What evaluation calls: the net, compiled where that pays."""
        return [self.forward]

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "paths": self.paths.get_state()}

    def load_state_dict(self, saved: dict) -> None:
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.paths.set_state(saved["paths"])


def fit(stepper, configs: Sequence[TrainConfig], dataset: data_mod.Dataset, speedups: Speedups, *,
        progress: bool, state: str | os.PathLike | None, desc: str) -> list[TrainResult]:
    """The epoch loop of every training: `stepper` (a `Stepper`, or `batched.GroupStepper` for a group of seeds)
    steps the nets of `configs`; one TrainResult per config.

    Each net draws its data order and augmentation from its own generator (seeded with its seed). With `state`,
    the loop keeps its resumable state there (see `resume`) and, when the file holds one, continues from it:
    the result is bit-identical to an uninterrupted run on the CPU. A net whose loss blows up stops being
    evaluated and is returned as diverged; the loop stops when every net has.
    """
    first = configs[0]
    device = dataset.train_x.device
    steps_per_epoch = -(-len(dataset.train_y) // first.batch_size)
    generators = [torch.Generator().manual_seed(c.seed) for c in configs]
    train_eval = (dataset.train_x[:TRAIN_EVAL_EXAMPLES], dataset.train_y[:TRAIN_EVAL_EXAMPLES])
    histories: list[dict[str, list[float]]] = [{k: [] for k in HISTORY_KEYS} for _ in configs]
    checkpoints: list[dict[int, dict[str, torch.Tensor]]] = [{} for _ in configs]
    watch = LossWatch(len(configs), SHAPES[first.dataset][2], device)
    step, first_epoch, skip, elapsed, resumed_from = 0, 1, 0, 0.0, None
    identity = first.as_dict() if len(configs) == 1 and not first.trained_with else \
        {"group": [c.as_dict() for c in configs]}
    keeper = resume.Keeper(state, identity) if state is not None else None
    saved = keeper.read() if keeper else None
    if saved:
        stepper.load_state_dict(saved["stepper"])
        histories, checkpoints = saved["histories"], saved["checkpoints"]
        step, first_epoch, skip, elapsed = saved["step"], saved["epoch"], saved["batch"], saved["seconds"]
        for g, s in zip(generators, saved["epoch_generators"], strict=True):
            g.set_state(s)  # so the epoch in progress draws the same order
        torch.set_rng_state(saved["torch_generator"])
        watch.load(saved["watch"])
        resumed_from = (first_epoch, skip)
        if progress:
            tqdm.write(f"{desc}: resuming at epoch {first_epoch}, batch {skip}")
    start = time.perf_counter() - elapsed

    def snapshot(epoch: int, batch: int, epoch_states: list[torch.Tensor]) -> dict:
        """Everything a restarted run needs to continue before batch `batch` of epoch `epoch`."""
        return {"stepper": stepper.state_dict(), "histories": histories, "checkpoints": checkpoints, "step": step,
                "epoch": epoch, "batch": batch, "seconds": time.perf_counter() - start,
                "epoch_generators": epoch_states, "generators": [g.get_state() for g in generators],
                "torch_generator": torch.get_rng_state(), "watch": watch.state()}

    def report(found: list[int]) -> None:
        for i in found:
            bar.write(f"{configs[i].label} (seed {configs[i].seed}): {describe_divergence(watch.diverged[i])}")

    bar = tqdm(range(first_epoch, first.epochs + 1), desc=desc, disable=not progress, leave=False,
               initial=first_epoch - 1, total=first.epochs)
    for epoch in bar:
        stepper.train_mode()  # evaluation restores it
        epoch_states = [g.get_state() for g in generators]
        orders = [data_mod.batches(dataset.train_x, dataset.train_y, first.batch_size, shuffle=True, generator=g)
                  for g in generators]
        for index, batch in enumerate(zip(*orders, strict=True)):
            if index < skip:  # trained before the interruption: same order, nothing drawn
                continue
            if index == skip and skip:
                for g, s in zip(generators, saved["generators"], strict=True):
                    g.set_state(s)  # the draws made so far in this epoch
            xbs = [prepare_batch(dataset, x, first.augment, g, speedups)
                   for (x, _), g in zip(batch, generators, strict=True)]
            lr = learning_rate(first, step, steps_per_epoch)
            watch.add(step, epoch, lr, stepper.step(xbs, [y for _, y in batch], lr))
            step += 1
            if watch.all_diverged:
                break
            if keeper and index + 1 < steps_per_epoch and keeper.due():
                report(watch.check())
                keeper.write(snapshot(epoch, index + 1, epoch_states))
        skip = 0
        report(watch.check())
        if watch.all_diverged:
            break
        for i, (model, forward) in enumerate(zip(stepper.models(), stepper.forwards(), strict=True)):
            if watch.diverged[i] is not None:
                continue
            train_loss, train_err = evaluate(forward, *train_eval, prepare=dataset.prepare, speedups=speedups)
            test_loss, test_err = evaluate(forward, dataset.test_x, dataset.test_y, prepare=dataset.prepare,
                                           speedups=speedups)
            for key, value in zip(HISTORY_KEYS, (epoch, lr, train_loss, train_err, test_loss, test_err,
                                                 time.perf_counter() - start), strict=True):
                histories[i][key].append(value)
            if epoch in first.checkpoints:
                checkpoints[i][epoch] = {k: v.detach().cpu().contiguous().clone()
                                         for k, v in model.state_dict().items()}
        worst = max(h["train_err"][-1] for h in histories if h["train_err"])
        bar.set_postfix(train_err=f"{worst:.3f}" + (" (worst)" if len(configs) > 1 else ""))
        if keeper and keeper.due(epoch_end=True):
            keeper.write(snapshot(epoch + 1, 0, [g.get_state() for g in generators]))
    bar.close()
    return [TrainResult(c, model.cpu().to(memory_format=torch.contiguous_format).eval(), h, k, speedups.numerics,
                        resumed_from, d)
            for c, model, h, k, d in zip(configs, stepper.models(), histories, checkpoints, watch.diverged,
                                         strict=True)]


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
    `state`, the run keeps its resumable state in that file (see `resume`) and continues from it.
    """
    device = torch.device(device) if device is not None else default_device()
    dataset = (dataset or data_mod.load(config.dataset, pixels=True)).to(device)
    steps = config.epochs * -(-len(dataset.train_y) // config.batch_size)
    speedups = Speedups.choose(device, dataset, steps, short_paths=bool(config.active_branches))
    stepper = Stepper(config, device, speedups)
    return fit(stepper, [config], dataset, speedups, progress=progress, state=state, desc=config.label)[0]
