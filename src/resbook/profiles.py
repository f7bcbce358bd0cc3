"""Named scales at which the book runs: `ci` (tests), `cpu` (default, offline), `images` (Fashion-MNIST at the
papers' recipe, offline, for a GPU), `paper` (CIFAR-10, GPU).

A profile fully names an experiment's scale; chapters take a profile name plus optional overrides.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Any, get_args, get_origin, get_type_hints

from .data import DATASETS
from .models import blocks_per_stage

# Jastrzebski et al.'s architectures besides the ResNet, by the names Chapter 3 gives them
OTHER_ARCHITECTURES = ("single representation", "average pooling", "wide ResNet (x2)")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    datasets: tuple[str, ...]  # the data sets every chapter runs on
    depths: tuple[int, ...]  # the depths of Chapter 1's sweep
    seeds: tuple[int, ...]
    epochs: int
    widths: tuple[int, int, int] = (16, 32, 64)
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of training where the lr is divided by 10
    warmup_epochs: float = 0.0  # at lr/10 first ...
    warmup_min_depth: int = 0  # ... for nets at least this deep
    augment: bool = False  # random crop + flip where the data set allows it
    draws: int = 10  # random draws per point of a lesion or reordering curve
    path_samples: int = 64  # sampled path sets per length (Veit's estimate; the paper used 1,000)
    probe_batch: int = 64  # examples in the batch whose gradient is decomposed by path length
    ablations: bool = True  # train Chapter 4's ablation nets (which part of unshared batch norm matters)
    short_paths: bool = True  # train Chapter 2's nets with short paths only (Veit et al. Sec. 5)
    # the nets Chapter 3 trains beside its ResNet (of OTHER_ARCHITECTURES, `ch3_refinement.ARCHITECTURES`' names)
    architectures: tuple[str, ...] = OTHER_ARCHITECTURES
    # train each architecture's seeds together, one batched computation (`batched`): fills a GPU; no gain on a CPU
    batch_seeds: bool = False
    # Chapter 1 also runs its plain/residual sweep on this real-image data set ("": none), at its own scale
    image_dataset: str = ""
    image_depths: tuple[int, ...] = ()
    image_epochs: int = 0
    image_batch_size: int = 128

    @property
    def deepest(self) -> int:
        return max(self.depths)

    @property
    def untrained_seeds(self) -> tuple[int, ...]:
        """The ten seeds of the claims about untrained nets (cheap, so more of them than trained runs): 10 s to
        10 s + 9 for the profile's smallest seed s, so that two disjoint seed sets also measure disjoint untrained
        nets (seeds 0-5 give 0-9, seeds 6-11 give 60-69)."""
        first = min(self.seeds)
        return tuple(range(10 * first, 10 * first + 10))

    @property
    def shallowest(self) -> int:
        return min(self.depths)


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci",
        description="smallest scale that still shows each effect; for tests (all chapters in under 4 min on 2 cores)",
        datasets=("digits",),
        depths=(8, 56),
        seeds=(0,),
        epochs=15,
        widths=(8, 16, 32),
        warmup_epochs=1,
        draws=3,
        path_samples=16,
        probe_batch=32,
        ablations=False,
        # Chapter 1's real-image path, at the smallest scale that runs it (about 20 s on 2 cores)
        image_dataset="fashion_slice",
        image_depths=(8, 56),
        image_epochs=3,
        image_batch_size=64,
    ),
    "cpu": Profile(
        name="cpu",
        # 6 seeds: three gave Student's t a half-width of 2.5 standard deviations, too wide to decide most claims
        description="offline data, 6 seeds, on a 2-core laptop (see how_to_run for each chapter's time)",
        datasets=("digits", "mnist1d"),
        depths=(8, 20, 56),
        seeds=(0, 1, 2, 3, 4, 5),
        epochs=15,
        widths=(8, 16, 32),  # half the paper's widths: twice as fast, and the effects are the same
        warmup_epochs=2,
        # 16 sampled path sets per length (half of the 32 before): sampling was 90 % of Chapter 2's gradient probe
        # (2 of its 5 minutes of probing), and the gradient's fall with length is 13 to 19 orders of magnitude
        path_samples=16,
        probe_batch=32,
        # each costs about a minute and a half of a chapter at 6 seeds: Chapter 4's three ablation nets and Chapter 3's
        # wide net (twice the widths) and average-pooling net would take those chapters over 10 minutes (measured
        # from an empty cache with the pooling net: 10.5 min); overrides add them back. The single-representation
        # net stays: `single_sharper` needs it
        ablations=False,
        architectures=("single representation",),
        # Chapter 2's short-path nets (34 epochs each, `ch2.short_path_epochs`) cost it 4 of its minutes: with them
        # it took 12.5 minutes from an empty cache; `{"short_paths": true}` adds them back
        short_paths=False,
        # 1,000 Fashion-MNIST images, 16 steps an epoch, 6 epochs, depths 8 and 20: at depth 56 these 12 runs alone
        # took 8 of Chapter 1's 10 minutes on 2 cores (80 s a run); at 20, 1.2 minutes. Plain-20 still trains worse
        # than plain-8 there (checked at seeds 0-2 before the change: +3 to +12 points of training error)
        image_dataset="fashion_slice",
        image_depths=(8, 20),
        image_epochs=6,
        image_batch_size=64,
    ),
    "images": Profile(
        name="images",
        description=(
            "Fashion-MNIST (60,000 real 28x28 images, from Debian, no download) with He et al.'s CIFAR recipe and "
            "widths 16/32/64: SGD 0.9, wd 1e-4, batch 128, 164 epochs, lr 0.1 divided by 10 at 50 % and 75 %, "
            "crop+flip, warm-up for ResNet-110; the offline stand-in for `paper`, for a GPU"
        ),
        datasets=("fashion_mnist",),
        depths=(20, 32, 44, 56, 110),
        seeds=(0, 1, 2),
        epochs=164,
        warmup_epochs=1,
        warmup_min_depth=110,
        augment=True,
        batch_seeds=True,
    ),
    "paper": Profile(
        name="paper",
        description=(
            "CIFAR-10 with He et al.'s recipe: SGD 0.9, wd 1e-4, batch 128, lr 0.1 divided by 10 at "
            "32k and 48k of 64k iterations (164 epochs), crop+flip, lr 0.01 warm-up for ResNet-110; for a GPU"
        ),
        datasets=("cifar10",),
        depths=(20, 32, 44, 56, 110),
        seeds=(0, 1, 2),
        epochs=164,
        warmup_epochs=1,  # ~400 iterations at lr 0.01, as He et al. did for ResNet-110
        warmup_min_depth=110,
        augment=True,
    ),
}

_FIXED = ("name", "description")
OVERRIDABLE = tuple(f.name for f in fields(Profile) if f.name not in _FIXED)


def resolve(profile: str | Profile = "cpu", overrides: dict[str, Any] | None = None) -> Profile:
    """The named profile with `overrides` applied; clear errors for unknown names or bad values.

    `dataset="digits"` is accepted as shorthand for `datasets=("digits",)`.
    """
    if isinstance(profile, Profile):
        base = profile
    elif profile in PROFILES:
        base = PROFILES[profile]
    else:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    overrides = dict(overrides or {})
    if "dataset" in overrides:
        overrides["datasets"] = (_checked("dataset", overrides.pop("dataset"), str, base.datasets[0]),)
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(
            f"unknown override(s) {', '.join(unknown)}; valid overrides: dataset, {', '.join(OVERRIDABLE)}"
        )
    # Types before anything runs: a wrong one would otherwise fail deep in training, in a worker process.
    overrides = {key: _checked(key, value, _TYPES[key], getattr(base, key)) for key, value in overrides.items()}
    result = replace(base, **overrides)
    _validate(result)
    return result


_TYPES = get_type_hints(Profile)
_NAMES = {int: "an int", float: "a number", bool: "True or False", str: "a string"}


def _checked(key: str, value: Any, kind: Any, example: Any) -> Any:
    """`value` as the type `kind` of a Profile field (a tuple from a list or a scalar), else a ValueError."""
    if get_origin(kind) is tuple:
        item = get_args(kind)[0]
        values = list(value) if isinstance(value, list | tuple) else [value]
        if all(_is(v, item) for v in values):
            return tuple(item(v) for v in values)
        expected = f"{_NAMES[item]} or a list of them"
        example = list(example)
    elif _is(value, kind):
        return kind(value)  # plain Python values (1 -> 1.0, numpy ints -> int): equal runs, equal cache keys
    else:
        expected = _NAMES[kind]
    written = repr(example) if isinstance(example, bool) else json.dumps(example)  # also valid Python
    raise ValueError(
        f'override "{key}" must be {expected}, e.g. {{"{key}": {written}}}; got {value!r} ({type(value).__name__})'
    )


def _is(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):  # True is an int to Python, never an epoch count here
        return kind is bool and isinstance(value, bool)
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)  # 1 for 1.0
    return isinstance(value, kind)


def _validate(p: Profile) -> None:
    bad = [d for d in p.datasets if d not in DATASETS]
    if bad or not p.datasets:
        raise ValueError(f'override "datasets": unknown dataset(s) {bad}; valid datasets: {", ".join(DATASETS)}, '
                         'e.g. {"datasets": ["digits"]}')
    if p.image_dataset and p.image_dataset not in DATASETS:
        raise ValueError(f'override "image_dataset": unknown dataset {p.image_dataset!r}; valid: "" (none) or one of '
                         f'{", ".join(DATASETS)}, e.g. {{"image_dataset": "fashion_slice"}}')
    for key in ("depths", "image_depths"):
        for depth in getattr(p, key):
            try:
                blocks_per_stage(depth)  # raises with the nearest valid depths
            except ValueError as err:
                raise ValueError(f'override "{key}": {err} E.g. {{"{key}": [8, 56]}}') from None
    if not p.depths or not p.seeds:
        raise ValueError("a profile needs at least one depth and one seed, e.g. {\"depths\": [8, 56], \"seeds\": [0]}")
    if p.image_dataset and (not p.image_depths or p.image_epochs < 1):
        raise ValueError('an image_dataset needs image_depths and image_epochs >= 1, e.g. '
                         '{"image_depths": [8, 56], "image_epochs": 3}')
    unknown = [a for a in p.architectures if a not in OTHER_ARCHITECTURES]
    if unknown:
        raise ValueError(f'override "architectures": unknown architecture(s) {unknown}; valid: '
                         f'{", ".join(OTHER_ARCHITECTURES)}, e.g. {{"architectures": ["single representation"]}}')
    if len(p.widths) != 3:
        raise ValueError(f'override "widths" must be three stage widths, e.g. {{"widths": [16, 32, 64]}}; '
                         f"got {p.widths}")
    for key, low, high, example in _RANGES:
        values = getattr(p, key)
        for value in values if isinstance(values, tuple) else (values,):
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f'override "{key}" must be between {low!r} and {high!r}, e.g. {{"{key}": {example}}}; '
                                 f"got {value!r}")


# (field, smallest, largest, a valid example) for every number a profile holds; the bounds say what a run can
# do, not what is sensible: a learning rate of 1e3 runs (and diverges, which training detects and reports)
_RANGES = (
    ("epochs", 1, 100_000, 15),
    ("seeds", 0, 2**31 - 1, "[0, 1, 2]"),  # torch seeds are non-negative; a negative one would wrap silently
    ("widths", 1, 1024, "[16, 32, 64]"),  # 1024 channels: 16x the papers' widest stage
    ("batch_size", 1, 1_000_000, 128),
    ("lr", 1e-12, 1e6, 0.1),
    ("momentum", 0, 0.999, 0.9),  # momentum 1 never forgets a gradient: the weights run away
    ("weight_decay", 0, 1.0, 1e-4),
    ("milestones", 0, 1, "[0.5, 0.75]"),  # fractions of training
    ("warmup_epochs", 0, 100_000, 1),
    ("warmup_min_depth", 0, 100_000, 110),
    ("draws", 1, 10_000, 10),
    ("path_samples", 1, 100_000, 64),
    ("probe_batch", 2, 100_000, 64),  # a batch-norm net in training mode needs two examples
    ("image_epochs", 0, 100_000, 6),
    ("image_batch_size", 1, 1_000_000, 64),
)
