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
    with pytest.raises(ValueError, match="ci, cpu, paper"):
        profiles.resolve("laptop")


def test_unknown_override_lists_valid_ones():
    with pytest.raises(ValueError, match="valid overrides: dataset, datasets, depths"):
        profiles.resolve("ci", {"depth": 20})


@pytest.mark.parametrize("override,match", [
    ({"depths": [21]}, "20 and 26"),
    ({"dataset": "imagenet"}, "digits, mnist1d, cifar10"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_override_values(override, match):
    with pytest.raises(ValueError, match=match):
        profiles.resolve("ci", override)
