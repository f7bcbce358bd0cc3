"""The book's chapters, one module each (`ch1_degradation`, `ch2_unravelled`, ...), found by their names.

A chapter module holds everything one chapter does, in the order the notebook uses it:
- `NOTEBOOK`: the stem of its notebook in book/;
- `plan(profile)`: the training runs it needs, by role, as configs (nothing is trained);
- its study steps: functions the notebook calls, each returning tidy frames;
- `CLAIMS` and the verdict functions that check them;
- its figures.
Adding a chapter is one module here, one notebook, and one entry in the chapter tests' expectations.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from types import ModuleType

from ..profiles import Profile
from ..train import TrainConfig


def modules() -> dict[str, ModuleType]:
    """Chapter number ("01", ...) -> its module, in chapter order."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("ch"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            found[module.NOTEBOOK[:2]] = module
    return dict(sorted(found.items()))


def plan(profile: Profile, chapters: Sequence[str] | None = None) -> list[TrainConfig]:
    """All runs of the given chapters ("01", ...; default all) at `profile`, without repeats."""
    mods = modules()
    unknown = [c for c in chapters or () if c not in mods]
    if unknown:
        raise ValueError(f"unknown chapter(s) {unknown}; valid: {', '.join(mods)}")
    names = chapters or list(mods)
    return list(dict.fromkeys(c for name in names for configs in mods[name].plan(profile).values()
                              for c in configs))


def train(profile: Profile, chapter: str) -> None:
    """Every run `chapter` ("01", ...) needs at `profile` that the run cache lacks, trained at once in one pool of
    worker processes, longest first (`runs.sweep`), so that the cores finish together; the chapter's study steps
    then load them. Without it each step would start its own pool for its own few runs."""
    from .. import runs

    runs.sweep(plan(profile, [chapter]))


def checkpoint_epochs(profile: Profile) -> tuple[int, ...]:
    """A few early epochs at which Chapters 3 and 4 look at a net during training."""
    return tuple(sorted({1, max(1, profile.epochs // 5), max(1, profile.epochs // 2)} - {profile.epochs}))
