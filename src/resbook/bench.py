"""Training speed on this machine: `python -m resbook.bench` (what `make bench` runs). Prints a table; no test.

For ResNet-20/56/110 on CIFAR-shaped data (32x32, batch 128, random pixels made here), side by side in one
run:
  baseline - the textbook recipe written out below: the same network in eager NCHW fp32, images augmented
             one by one with torchvision transforms in a DataLoader, each batch copied to the device,
             torch.optim.SGD with its defaults;
  package  - `resbook.train`'s own step as a paper-length run would use it: data held on the device as
             uint8 and augmented there in whole batches, fused SGD, channels-last and bf16 autocast on a GPU,
             torch.compile where `Speedups.choose` decides it pays.
It also prints the FLOP rate of the package's step (FLOPs counted by torch's FlopCounterMode) as a share of
a large matrix product's rate on the same device, and the projected hours of one paper-length run (64k
iterations plus 164 evaluations of 20,000 images).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from . import data, speed, train

PAPER_ITERATIONS = 64_000
PAPER_EPOCHS = 164
EVAL_IMAGES_PER_EPOCH = 20_000  # train.TRAIN_EVAL_EXAMPLES training images plus the 10,000 test images


# ---- the baseline: a straightforward implementation, deliberately without any of the package's tricks ----

class BaselineBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.extra:  # option A: zero channels appended
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + shortcut)


class BaselineResNet(nn.Module):
    def __init__(self, depth: int, widths=(16, 32, 64), num_classes: int = 10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for stage, cout in enumerate(widths):
            for i in range(n):
                layers.append(BaselineBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def baseline_loader(images: np.ndarray, labels: np.ndarray, batch_size: int, device: torch.device):
    """The usual CIFAR-10 pipeline: PIL images, per-image random crop + flip + normalise, a DataLoader."""
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(data.CIFAR_MEAN, data.CIFAR_STD),
    ])

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            from PIL import Image
            return transform(Image.fromarray(images[i])), int(labels[i])

    # on a GPU machine loader workers prepare batches beside the training; on a 2-core CPU they would
    # only take cores from it
    workers = min(8, (os.cpu_count() or 1) // 2) if device.type == "cuda" else 0
    loader = torch.utils.data.DataLoader(Images(), batch_size=batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    while True:
        for xb, yb in loader:
            yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


# ---- measuring ----

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(step, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of `step`, after `warmup` untimed calls."""
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


def side_by_side(a, b, steps: int, warmup: int, device: torch.device, rounds: int = 3) -> tuple[float, float]:
    """Seconds per call of `a` and of `b`, timed in alternating rounds (median) so drift hits both alike."""
    for _ in range(warmup):
        a(), b()
    times_a, times_b = [], []
    for _ in range(rounds):
        times_a.append(timed(a, steps, 0, device))
        times_b.append(timed(b, steps, 0, device))
    return float(np.median(times_a)), float(np.median(times_b))


def matmul_flops(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matrix product: the device's practical peak for this dtype."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, steps=10 if device.type == "cuda" else 4, warmup=2, device=device)
    return 2 * n**3 / seconds


def step_flops(stepper: train.Stepper, xb: torch.Tensor, yb: torch.Tensor) -> float:
    """FLOPs of one forward and backward pass (convolutions and matrix products), counted by torch."""
    with FlopCounterMode(display=False) as counter:
        with stepper.speedups.autocast(stepper.device):
            loss = F.cross_entropy(stepper.model(xb), yb)
        loss.backward()
    stepper.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def fake_cifar(n: int, seed: int = 0) -> data.Dataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return data.Dataset("cifar10", x, y, x[:2000], y[:2000], 10, pad=4, flip=True,
                        mean=data.CIFAR_MEAN, std=data.CIFAR_STD)


def measure(depth: int, device: torch.device, dataset: data.Dataset, batch: int, steps: int, warmup: int,
            peak: float) -> dict:
    row = {"net": f"ResNet-{depth}"}
    # (a) baseline
    torch.manual_seed(0)
    model = BaselineResNet(depth).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    images = dataset.train_x.permute(0, 2, 3, 1).contiguous().numpy()  # HWC uint8, as torchvision keeps it
    loader = baseline_loader(images, dataset.train_y.numpy(), batch, device)

    def baseline_step():
        xb, yb = next(loader)
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # (b) the package, configured as for a paper-length run of this net
    config = train.TrainConfig("cifar10", depth, batch_size=batch, augment=True)
    on_device = dataset.to(device)
    fast = speed.Speedups.choose(device, on_device, PAPER_ITERATIONS)
    stepper = train.Stepper(config, device, fast)
    generator = torch.Generator().manual_seed(0)
    batches = iter(())

    def package_step():
        nonlocal batches
        try:
            xb, yb = next(batches)
        except StopIteration:
            batches = data.batches(on_device.train_x, on_device.train_y, batch, shuffle=True, generator=generator)
            xb, yb = next(batches)
        if len(yb) < batch:  # the last short batch of an epoch: start the next epoch instead
            batches = iter(())
            return package_step()
        stepper.step([train.prepare_batch(on_device, xb, True, generator, fast)], [yb], 0.1)

    compile_warmup = time.perf_counter()
    package_step()  # compiles here when fast.compile
    sync(device)
    row["compile s"] = round(time.perf_counter() - compile_warmup, 1) if fast.compile else 0.0
    baseline_seconds, seconds = side_by_side(baseline_step, package_step, steps, warmup, device)
    loader.close()  # stops the loader workers
    row["baseline img/s"] = batch / baseline_seconds
    row["package img/s"] = batch / seconds
    row["ratio"] = row["package img/s"] / row["baseline img/s"]
    xb = train.prepare_batch(on_device, on_device.train_x[:batch], True, generator, fast)
    flops = step_flops(stepper, xb, on_device.train_y[:batch])
    row["GFLOP/s"] = flops / seconds / 1e9
    row["of matmul"] = flops / seconds / peak

    # evaluation (as train() does after every epoch), then the paper-length projection
    eval_x, eval_y = on_device.train_x[:2000], on_device.train_y[:2000]
    evaluate = lambda: train.evaluate(stepper.forward, eval_x, eval_y, prepare=on_device.prepare, speedups=fast)  # noqa: E731
    eval_seconds = timed(evaluate, 2, 1, device) * EVAL_IMAGES_PER_EPOCH / len(eval_y)
    row["paper run h"] = (PAPER_ITERATIONS * seconds + PAPER_EPOCHS * eval_seconds + row["compile s"]) / 3600
    row["speedups"] = ", ".join(k for k, v in vars(fast).items() if v is True) + (
        f" (mode {fast.compile_mode})" if fast.compile and fast.compile_mode else "")
    return row


def sweep_hours(rows: list[dict], depths=(20, 32, 44, 56, 110)) -> float:
    """Projected hours of Chapter 1's sweep at the paper profile (plain + residual, one seed), one run at a
    time; depths not measured are interpolated linearly in depth (cost grows with the number of blocks)."""
    measured = {int(r["net"].split("-")[1]): r["paper run h"] for r in rows}
    known = sorted(measured)
    return 2 * sum(float(np.interp(d, known, [measured[k] for k in known])) for d in depths)


def end_to_end(depth: int, epochs: int, device: torch.device) -> None:
    """`train.train` itself on 50,000 CIFAR-shaped images: measured seconds per epoch, projected paper run."""
    config = train.TrainConfig("cifar10", depth, epochs=epochs, augment=True)
    result = train.train(config, fake_cifar(50_000), device=device, progress=False)
    seconds = result.history["seconds"]
    later = (seconds[-1] - seconds[0]) / max(1, epochs - 1)
    print(f"train() end to end, ResNet-{depth}, {epochs} epochs of 50,000 images: first epoch {seconds[0]:.1f} s "
          f"(includes compiling), then {later:.2f} s per epoch -> {PAPER_EPOCHS} epochs in "
          f"{(seconds[0] + later * (PAPER_EPOCHS - 1)) / 60:.1f} min", flush=True)


# ---- sweeps: a group of seeds one run at a time vs trained together (`batched`) ----

# (data set, fake data shape, training steps per run, evaluated images per run) of Chapter 1's sweeps
SWEEPS = {
    "images": ("fashion_mnist", (1, 28, 28), 164 * -(-60_000 // 128), 164 * 20_000),
    "paper": ("cifar10", (3, 32, 32), PAPER_ITERATIONS, PAPER_EPOCHS * EVAL_IMAGES_PER_EPOCH),
}
SWEEP_DEPTHS = (20, 32, 44, 56, 110)


def fake_images(dataset: str, shape: tuple[int, ...], n: int) -> data.Dataset:
    """Random uint8 images of a data set's shape (speed does not depend on what the pixels show)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    mean, std = (0.5,) * shape[0], (0.25,) * shape[0]
    return data.Dataset(dataset, x, y, x[:256], y[:256], 10, pad=4, flip=True, mean=mean, std=std)


def group_seconds(dataset: data.Dataset, depth: int, seeds: int, device: torch.device, batch: int,
                  steps: int, warmup: int) -> tuple[float, float]:
    """Seconds per step of `seeds` runs of ResNet-`depth` (widths 16/32/64): one at a time (a step of each,
    one after another) vs together (one batched step), in alternating rounds. Both eager (no compiling)."""
    from . import batched

    on_device = dataset.to(device)
    fast = speed.Speedups.choose(device, on_device, 0)
    group = [train.TrainConfig(dataset.name, depth, batch_size=batch, augment=True, seed=s,
                               trained_with=tuple(range(seeds))) for s in range(seeds)]
    alone = [train.Stepper(replace(c, trained_with=()), device, fast) for c in group]
    together = batched.GroupStepper(group, device, replace(fast, channels_last=False))
    generator = torch.Generator().manual_seed(0)

    def batch_of_images():
        index = torch.randint(0, len(on_device.train_y), (batch,), generator=generator).to(device)
        return train.prepare_batch(on_device, on_device.train_x[index], True, generator, fast), on_device.train_y[index]

    batches = [batch_of_images() for _ in range(seeds)]
    stacked = [x for x, _ in batches], [y for _, y in batches]

    def one_at_a_time():
        for stepper, (xb, yb) in zip(alone, batches, strict=True):
            stepper.step([xb], [yb], 0.1)

    return side_by_side(one_at_a_time, lambda: together.step(*stacked, 0.1), steps, warmup, device, rounds=2)


def sweep_rows(device: torch.device, depths: tuple[int, ...], seeds: int = 3, batch: int = 128,
               steps: int = 2, warmup: int = 1) -> None:
    """Runs per hour of a Chapter 1 group one at a time vs together, and the projected time of the whole
    `images` and `paper` Chapter 1 sweeps (plain + residual at 20/32/44/56/110, `seeds` seeds)."""
    print(f"\nChapter 1 sweeps: {seeds} seeds of one net, one run at a time vs trained together (eager); "
          "runs per hour of a full run (training steps, plus evaluation at a third of a step's cost per image)")
    print("sweep | net | one at a time: runs/h | together: runs/h | ratio")
    for profile, (name, shape, run_steps, eval_images) in SWEEPS.items():
        dataset = fake_images(name, shape, 4 * batch)
        hours = {"alone": [], "together": []}
        for depth in depths:
            alone_s, together_s = group_seconds(dataset, depth, seeds, device, batch, steps, warmup)
            for key, seconds in (("alone", alone_s), ("together", together_s)):
                per_group = seconds * (run_steps + eval_images / batch / 3)  # hours of `seeds` runs
                hours[key].append(per_group / 3600)
            rate = [seeds / h[-1] for h in hours.values()]
            print(f"{profile} | ResNet-{depth} | {rate[0]:.2f} | {rate[1]:.2f} | {rate[1] / rate[0]:.2f}x", flush=True)
        if len(depths) > 1:  # cost grows linearly with the number of blocks: fit, then extrapolate to 110
            projected = {key: 2 * sum(np.polyval(np.polyfit(depths, h, 1), SWEEP_DEPTHS)) for key, h in hours.items()}
            print(f"projected {profile} Chapter 1 sweep (plain + residual at {'/'.join(map(str, SWEEP_DEPTHS))}, "
                  f"{seeds} seeds) on this device: {projected['alone']:.1f} h one at a time, "
                  f"{projected['together']:.1f} h trained together", flush=True)


def state_overhead(profile: str = "cpu", depth: int = 56, rounds: int = 2) -> None:
    """What keeping resumable state costs a run of `profile` (default interval): the time of its state
    writes as a share of the run, and the run's time with and without state, alternating, in this run."""
    import tempfile

    from . import profiles, resume

    real_write = resume.Keeper.write
    spent: list[float] = []

    def timed_write(self, snapshot):
        start = time.perf_counter()
        real_write(self, snapshot)
        spent.append(time.perf_counter() - start)

    resume.Keeper.write = timed_write
    try:
        for dataset in profiles.resolve(profile).datasets:
            config = train.config_for(profiles.resolve(profile), dataset, depth)
            seconds: dict[str, list[float]] = {"without": [], "with": []}
            spent.clear()
            for _ in range(rounds):
                for mode in seconds:
                    with tempfile.TemporaryDirectory() as folder:
                        start = time.perf_counter()
                        train.train(config, progress=False,
                                    state=pathlib.Path(folder) / "state.pt" if mode == "with" else None)
                        seconds[mode].append(time.perf_counter() - start)
            per_run = sum(spent) / rounds
            print(f"resumable state, {profile} {config.label} on {dataset}: {len(spent) / rounds:.0f} writes per run, "
                  f"{per_run * 1e3:.0f} ms = {per_run / np.mean(seconds['with']):.2%} of the run; run "
                  f"{np.mean(seconds['without']):.1f} s without state, {np.mean(seconds['with']):.1f} s with "
                  f"({rounds} alternating rounds)", flush=True)
    finally:
        resume.Keeper.write = real_write


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m resbook.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="*", default=[20, 56, 110], help="none: skip the table")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--train-epochs", type=int, default=0,
                        help="also run train() itself for this many epochs on ResNet-20 (GPU: try 6)")
    parser.add_argument("--sweep-depths", type=int, nargs="*", default=[20, 56],
                        help="depths measured for the sweep rows (none: skip them)")
    parser.add_argument("--no-state", action="store_true", help="skip the resumable-state overhead rows")
    args = parser.parse_args(argv)
    device = torch.device(args.device) if args.device else speed.default_device()
    cuda = device.type == "cuda"
    steps = args.steps or (30 if cuda else 3)  # per round; three alternating rounds
    warmup = 10 if cuda else 2
    dataset = fake_cifar(10_000 if cuda else 2_000)
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    peak_dtype = torch.bfloat16 if cuda else torch.float32
    peak = matmul_flops(device, peak_dtype)
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch}; "
          f"3 alternating rounds of {steps} timed steps after {warmup}")
    print(f"matrix-product rate ({str(peak_dtype).removeprefix('torch.')}): {peak / 1e9:,.0f} GFLOP/s")
    if not args.depths:
        end_to_end(20, args.train_epochs, device) if args.train_epochs else None
        return
    columns = ["net", "baseline img/s", "package img/s", "ratio", "GFLOP/s", "of matmul", "compile s",
               "paper run h", "speedups"]
    print(" | ".join(columns))
    rows = []
    for depth in args.depths:
        row = measure(depth, device, dataset, args.batch, steps, warmup, peak)
        rows.append(row)
        cells = [row["net"], f"{row['baseline img/s']:,.0f}", f"{row['package img/s']:,.0f}",
                 f"{row['ratio']:.2f}x", f"{row['GFLOP/s']:,.0f}", f"{row['of matmul']:.0%}",
                 f"{row['compile s']:.0f}", f"{row['paper run h']:.2f}", row["speedups"]]
        print(" | ".join(cells), flush=True)
    if len(rows) > 1:
        hours = sweep_hours(rows)
        print(f"projected Chapter 1 sweep at the paper profile (plain + residual at 20/32/44/56/110), one run at "
              f"a time: {hours:.1f} h per seed, {3 * hours:.1f} h for the profile's 3 seeds")
    if args.train_epochs:
        end_to_end(20, args.train_epochs, device)
    if args.sweep_depths:
        sweep_rows(device, tuple(args.sweep_depths), steps=max(2, steps // 3) if cuda else 2)
    if not args.no_state:
        print()
        state_overhead()


if __name__ == "__main__":
    main()
