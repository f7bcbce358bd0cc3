"""Which training runs each chapter needs at a profile, as configs, without training anything.

The chapters' studies train exactly these (tested), so the run cache can be filled ahead of time:
on a bigger machine, on a cluster, or as one archive for a class (see `resbook.fill`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .profiles import Profile
from .train import TrainConfig, config_for

# Veit et al. trained ResNet-110 (54 blocks) with 23 active blocks per mini-batch: the same share here.
VEIT_ACTIVE_SHARE = 23 / 54
# Jastrzebski et al. share the top 13 of 18 blocks of every stage of a ResNet-110.
PAPER_SHARED_SHARE = 13 / 18
CHAPTERS = ("01", "02", "03", "04")


def grid(
    profile: Profile,
    *,
    datasets: Sequence[str] | None = None,
    depths: Sequence[int] | None = None,
    nets: Sequence[bool] = (True,),
    seeds: Sequence[int] | None = None,
    **model,
) -> list[TrainConfig]:
    """Every data set x depth x net (residual=True/False) x seed; defaults from the profile."""
    return [
        config_for(profile, dataset, depth, seed=seed, residual=residual, **model)
        for dataset in (datasets or profile.datasets)
        for depth in (depths or profile.depths)
        for residual in nets
        for seed in (seeds if seeds is not None else profile.seeds)
    ]


def checkpoint_epochs(profile: Profile) -> tuple[int, ...]:
    """A few early epochs at which Chapters 3 and 4 look at a net during training."""
    return tuple(sorted({1, max(1, profile.epochs // 5), max(1, profile.epochs // 2)} - {profile.epochs}))


def plain_vs_residual(profile: Profile) -> dict[str, list[TrainConfig]]:
    return {"sweep": grid(profile, nets=(False, True))}


def shortcuts(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Chapter 1's other shortcuts, on the first data set: projections (option B) and highway gates."""
    first = [profile.datasets[0]]
    return {"option B": grid(profile, datasets=first, shortcut="B"),
            "highway": grid(profile, datasets=first, shortcut="gated")}


def unravelled(profile: Profile, dataset: str) -> dict[str, list[TrainConfig]]:
    deepest = profile.deepest
    blocks = 3 * (deepest - 2) // 6
    return {
        "residual": grid(profile, datasets=[dataset], depths=[deepest]),
        "plain": grid(profile, datasets=[dataset], nets=(False,), seeds=profile.seeds[:1]),
        "short paths": grid(profile, datasets=[dataset], depths=[deepest],
                            active_branches=max(1, round(VEIT_ACTIVE_SHARE * blocks))),
    }


# Jastrzebski et al. (Fig. 2-4) compare four pre-activation nets; ours, at the profile's deepest depth
ARCHITECTURES = {
    "ResNet": {},
    "single representation": {"arch": "single"},
    "average pooling": {"arch": "avgpool"},
    "wide ResNet (x2)": {"widen": 2},
}


def architecture(profile: Profile, name: str) -> dict:
    """Model options of one of ARCHITECTURES at `profile` (the wide net doubles the profile's widths)."""
    options = dict(ARCHITECTURES[name])
    if options.pop("widen", None):
        options["width"] = tuple(2 * w for w in profile.widths)
    return options


def refinement(profile: Profile, dataset: str) -> dict[str, list[TrainConfig]]:
    deepest = [profile.deepest]
    plan = {
        "pre-activation": grid(profile, datasets=[dataset], depths=deepest, preact=True,
                               checkpoints=checkpoint_epochs(profile)),
        "post-activation": grid(profile, datasets=[dataset], depths=deepest),
    }
    for name in list(ARCHITECTURES)[1:]:  # the first is the pre-activation net above; one seed each
        plan[name] = grid(profile, datasets=[dataset], depths=deepest, seeds=profile.seeds[:1], preact=True,
                          **architecture(profile, name))
    return plan


def sharing_variants(profile: Profile) -> dict[str, dict]:
    """The nets of Chapter 4, named, as model options (depth plus sharing)."""
    depth = profile.deepest
    n = (depth - 2) // 6
    shared = max(2, min(n - 1, round(PAPER_SHARED_SHARE * n)))
    small = 6 * (n - shared + 1) + 2  # an unshared net with the same distinct blocks
    variants = {
        f"unshared-{depth}": {"depth": depth},
        f"shared-{depth}, naive": {"depth": depth, "shared": shared, "shared_bn": "shared"},
        f"unshared-{small} (same size)": {"depth": small},
        f"shared-{depth}, UBN": {"depth": depth, "shared": shared, "shared_bn": "unshared"},
    }
    if profile.ablations:
        for mode, what in (("stats", "own BN statistics only"), ("affine", "own BN scale/shift only"),
                           ("init", "BN scale 0.1 only")):
            variants[f"shared-{depth}, {what}"] = {"depth": depth, "shared": shared, "shared_bn": mode}
    return variants


def sharing(profile: Profile, dataset: str) -> dict[str, list[TrainConfig]]:
    plan = {}
    for name, options in sharing_variants(profile).items():
        options = dict(options)
        depth = options.pop("depth")
        plan[name] = grid(profile, datasets=[dataset], depths=[depth], preact=True,
                          checkpoints=checkpoint_epochs(profile), **options)
    return plan


def chapter(profile: Profile, name: str) -> list[TrainConfig]:
    """All runs of one chapter ("01" ... "04") at `profile`, without repeats."""
    if name not in CHAPTERS:
        raise ValueError(f"unknown chapter {name!r}; valid: {', '.join(CHAPTERS)}")
    if name == "01":
        plans = [plain_vs_residual(profile), shortcuts(profile)]
    else:
        per_dataset = {"02": unravelled, "03": refinement, "04": sharing}[name]
        plans = [per_dataset(profile, dataset) for dataset in profile.datasets]
    return list(dict.fromkeys(c for plan in plans for configs in plan.values() for c in configs))


def book(profile: Profile, chapters: Sequence[str] = CHAPTERS) -> list[TrainConfig]:
    """All runs of the given chapters at `profile`, without repeats (chapters share some runs)."""
    return list(dict.fromkeys(c for name in chapters for c in chapter(profile, name)))
