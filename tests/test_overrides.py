"""Every override a reader can type either gives a profile that runs or a clear error, before any training.

Property-based (Hypothesis): for every field, values of every type and size (zero, negative, huge, NaN,
empty, wrong-typed) are drawn; `profiles.resolve` must either return a profile whose runs can be set up
(every chapter's plan, a positive learning rate, at least one step per epoch) or raise a ValueError that
names the field and shows a valid example.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resbook import chapters, profiles, train

SCALARS = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8), st.sampled_from(["digits", "mnist1d", "cifar10", "fashion_slice"]),
    st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from([0, -1, 1, 2, 8, 20, 56, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.1, 1e-9, 0.5, 1.0, 1e9]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


def runnable(profile: profiles.Profile) -> None:
    """What a chapter needs before it trains: every run named, a positive rate, at least one step an epoch."""
    configs = chapters.plan(profile)
    assert configs
    for config in configs:
        steps_per_epoch = -(-1000 // config.batch_size)
        assert steps_per_epoch >= 1 and config.epochs >= 1
        for step in (0, config.epochs * steps_per_epoch - 1):
            rate = train.learning_rate(config, step, steps_per_epoch)
            assert math.isfinite(rate) and rate > 0


@pytest.mark.parametrize("field", ["dataset", *profiles.OVERRIDABLE])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_an_override_runs_or_says_why(field, value):
    try:
        profile = profiles.resolve("ci", {field: value})
    except ValueError as err:
        message = str(err)
        named = f'"{field}"' in message or field.rstrip("s") in message
        assert named and ("e.g." in message or "valid" in message), message
        return
    runnable(profile)


@pytest.mark.parametrize(("override", "field"), [
    ({"batch_size": 0}, "batch_size"), ({"seeds": [-1]}, "seeds"), ({"lr": 0}, "lr"), ({"lr": -0.1}, "lr"),
    ({"lr": float("nan")}, "lr"), ({"momentum": 1.0}, "momentum"), ({"epochs": 0}, "epochs"),
    ({"probe_batch": 1}, "probe_batch"), ({"warmup_epochs": -1}, "warmup_epochs"), ({"widths": [8, 0, 8]}, "widths"),
])
def test_the_overrides_that_used_to_fail_late_are_refused_up_front(override, field):
    with pytest.raises(ValueError, match=f'"{field}".*e\\.g\\.'):
        profiles.resolve("ci", override)


def test_a_huge_learning_rate_is_a_valid_override():
    """It runs (and diverges, which training detects: tests/test_train.py)."""
    runnable(profiles.resolve("ci", {"lr": 1e3}))
