import pytest

from resbook import profiles


def test_profiles_exist_and_resolve():
    for name in ("ci", "cpu", "paper"):
        assert profiles.resolve(name).name == name
    assert len(profiles.resolve("cpu").seeds) >= 3
    assert profiles.resolve("paper").datasets == ("cifar10",)


def test_overrides_apply_and_dataset_alias():
    p = profiles.resolve("cpu", {"depths": [8, 20], "dataset": "digits", "epochs": 3})
    assert p.depths == (8, 20) and p.datasets == ("digits",) and p.epochs == 3


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ValueError, match="ci, cpu, images, paper"):
        profiles.resolve("laptop")


def test_unknown_override_lists_valid_ones():
    with pytest.raises(ValueError, match="valid overrides: dataset, datasets, depths"):
        profiles.resolve("ci", {"depth": 20})


@pytest.mark.parametrize("override,match", [
    ({"depths": [21]}, "20 and 26"),
    ({"dataset": "imagenet"}, "digits, mnist1d, fashion_mnist, fashion_slice, cifar10"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_override_values(override, match):
    with pytest.raises(ValueError, match=match):
        profiles.resolve("ci", override)


@pytest.mark.parametrize("override,match", [
    ({"epochs": "ten"}, r'override "epochs" must be an int, e\.g\. \{"epochs": 15\}; got \'ten\' \(str\)'),
    ({"epochs": True}, r'"epochs" must be an int.*got True \(bool\)'),  # bool is an int to Python, not here
    ({"lr": "0.1"}, r'"lr" must be a number, e\.g\. \{"lr": 0\.1\}; got \'0\.1\' \(str\)'),
    ({"seeds": ["a"]}, r'"seeds" must be an int or a list of them, e\.g\. \{"seeds": \[0\]\}'),
    ({"augment": 1}, r'"augment" must be True or False'),
    ({"dataset": 3}, r'"dataset" must be a string, e\.g\. \{"dataset": "digits"\}'),
])
def test_override_of_the_wrong_type_names_field_type_and_example(override, match):
    with pytest.raises(ValueError, match=match):
        profiles.resolve("ci", override)


def test_overrides_of_the_right_type_are_accepted():
    assert profiles.resolve("ci", {"depths": 8}).depths == (8,)  # a scalar where a tuple is expected
    p = profiles.resolve("ci", {"lr": 1, "milestones": [1, 0.75]})  # ints where floats are expected
    assert p.lr == 1.0 and isinstance(p.lr, float) and p.milestones == (1.0, 0.75)
    assert profiles.resolve("ci", {"augment": True, "dataset": "mnist1d"}).augment is True


def test_untrained_seeds_are_ten_and_disjoint_for_disjoint_seed_sets():
    """The claims about untrained nets take ten seeds from the profile's: two disjoint seed sets (the way the
    scorecard is replicated) must not measure the same untrained nets."""
    a = profiles.resolve("cpu", {"seeds": [0, 1, 2, 3, 4, 5]}).untrained_seeds
    b = profiles.resolve("cpu", {"seeds": [6, 7, 8, 9, 10, 11]}).untrained_seeds
    assert len(a) == len(b) == 10 and not set(a) & set(b)
    assert profiles.resolve("ci").untrained_seeds == tuple(range(10))  # the ci pins' nets stay the same
