"""One training run: a config that names it fully, SGD with step schedule and warm-up, per-epoch metrics."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
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
    arch: str = "cifar"  # block layout: see models.ARCHS

    @property
    def label(self) -> str:
        kind = ("highway" if self.shortcut == "gated" else "residual") if self.residual else "plain"
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
        augment=profile.augment,
    )
    return TrainConfig(**{**settings, **model})


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


# torch.compile costs 30 s to 100 s before the first step and saves a fraction of each step: it pays only
# for long runs (a paper-length run has 64k steps; the cpu profile's runs have a few hundred)
COMPILE_MIN_STEPS = 2000


@dataclass(frozen=True)
class Speedups:
    """How a run uses the hardware. None of these changes what is computed beyond rounding."""

    channels_last: bool  # NHWC layout: faster convolutions for images on GPUs (tensor cores)
    compile: bool  # torch.compile the model (fuses batch norm, ReLU and additions)
    fused_optimizer: bool  # one SGD kernel for all parameters
    bf16: bool  # bf16 autocast (tensor cores); weights and optimizer state stay fp32
    compile_mode: str | None = None  # torch.compile's mode (None: its default)

    @classmethod
    def choose(cls, device: torch.device, dataset: data_mod.Dataset, steps: int, *,
               short_paths: bool = False) -> Speedups:
        cuda = device.type == "cuda"
        # channels-last on GPUs only: on the CPU its gain was within noise, and oneDNN's backward pass of a
        # 1x1 convolution in that layout (option-B projections, highway gates) hung in a test here
        images = cuda and dataset.dims == 2 and min(dataset.train_x.shape[-2:]) >= 16
        # per-batch hooks of short-path training would make the compiled graph recompile every step
        compile_ = steps >= COMPILE_MIN_STEPS and not short_paths
        if "RESBOOK_COMPILE" in os.environ:
            compile_ = os.environ["RESBOOK_COMPILE"] == "1" and not short_paths
        # the fused SGD kernel cannot take parameters without a momentum buffer, which short-path training
        # leaves on the branches it skipped in the first step
        return cls(channels_last=images, compile=compile_, fused_optimizer=not short_paths,
                   bf16=cuda and torch.cuda.is_bf16_supported(),
                   # CUDA graphs: the book's nets are small enough that kernel launches, not arithmetic,
                   # bound a GPU step (measured on an H200: 33.5k vs 16.5k img/s for ResNet-20)
                   compile_mode=os.environ.get("RESBOOK_COMPILE_MODE", "reduce-overhead" if cuda else None))

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


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
    was_training = model.training
    model.eval()
    loss = torch.zeros((), device=x.device)
    wrong = torch.zeros((), device=x.device, dtype=torch.long)
    for xb, yb in data_mod.batches(x, y, batch_size):
        xb = prepare(xb) if prepare else xb
        if speedups:
            with speedups.autocast(x.device):
                logits = model(speedups.layout(xb)).float()
        else:
            logits = model(xb)
        loss += F.cross_entropy(logits, yb, reduction="sum")
        wrong += (logits.argmax(1) != yb).sum()
    model.train(was_training)
    return loss.item() / len(y), wrong.item() / len(y)  # one device sync per evaluation, not per batch


# training error is measured on at most this many training examples (all of digits and MNIST-1D, a fixed
# fifth of CIFAR-10), so evaluation stays a small part of a paper-length run
TRAIN_EVAL_EXAMPLES = 10_000


@dataclass
class Stepper:
    """A model set up for fast training on a device: what `train` and the benchmark both step."""

    model: ResNet  # the plain module (its weights are what gets saved)
    forward: nn.Module  # `model`, compiled where that pays
    optimizer: torch.optim.Optimizer
    speedups: Speedups
    device: torch.device

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step on a batch that `prepare_batch` made; returns the loss (left on the device)."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.speedups.autocast(self.device):
            try:
                logits = self.forward(xb)
            except torch._dynamo.exc.BackendCompilerFailed as err:  # e.g. no C compiler on this machine
                warnings.warn(f"torch.compile failed ({err.__class__.__name__}); training uncompiled", stacklevel=2)
                self.forward = self.model
                logits = self.forward(xb)
            loss = F.cross_entropy(logits, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss


def stepper(config: TrainConfig, dataset: data_mod.Dataset, device: torch.device, speedups: Speedups) -> Stepper:
    """The model `config` names, initialised from its seed, with its optimizer, ready on `device`."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    if speedups.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # the compiled wrapper shares the parameters of `model`
    forward = torch.compile(model, mode=speedups.compile_mode) if speedups.compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, fused=speedups.fused_optimizer)
    return Stepper(model, forward, optimizer, speedups, device)


def prepare_batch(dataset: data_mod.Dataset, xb: torch.Tensor, augment: bool, generator: torch.Generator,
                  speedups: Speedups) -> torch.Tensor:
    """Stored batch -> network input, on the batch's device: augment (uint8 or float), normalise, lay out."""
    if augment and (dataset.pad or dataset.flip):
        xb = data_mod.augment(xb, dataset.pad, dataset.flip, generator)
    return speedups.layout(dataset.prepare(xb))


# training error is measured on at most this many training examples (all of digits and MNIST-1D, a fixed
# fifth of CIFAR-10), so evaluation stays a small part of a paper-length run
TRAIN_EVAL_EXAMPLES = 10_000


def train(
    config: TrainConfig,
    dataset: data_mod.Dataset | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the net that `config` names from scratch; deterministic on the CPU for a given seed.

    The data set stays on `device` for the whole run (CIFAR-10 as uint8 pixels, augmented there).
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
    step = 0
    start = time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc=config.label, disable=not progress, leave=False)
    for epoch in bar:
        run.model.train()
        for xb, yb in data_mod.batches(dataset.train_x, dataset.train_y, config.batch_size,
                                       shuffle=True, generator=generator):
            xb = prepare_batch(dataset, xb, config.augment, generator, fast)
            lr = learning_rate(config, step, steps_per_epoch)
            with _short_paths_only(run.model, config.active_branches, generator):
                run.step(xb, yb, lr)
            step += 1
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
    model = run.model.cpu().to(memory_format=torch.contiguous_format)
    return TrainResult(config, model.eval(), history, checkpoints)
