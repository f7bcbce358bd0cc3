import pytest
import torch

from resbook import data

from .fakes import fake_cifar_files, trust_fake_cifar


def test_digits_split_is_fixed_stratified_and_standardised():
    d = data.digits()
    assert d.train_x.shape == (1437, 1, 8, 8) and d.test_x.shape == (360, 1, 8, 8)
    assert d.dims == 2 and d.in_channels == 1
    assert abs(d.train_x.mean().item()) < 1e-4 and abs(d.train_x.std().item() - 1) < 1e-2
    counts = torch.bincount(d.test_y, minlength=10)
    assert counts.min() >= 35  # every class in the test split, in proportion
    assert torch.equal(d.test_y, data.digits.__wrapped__().test_y)  # the same split every time


def test_mnist1d_is_generated_locally():
    d = data.mnist1d()
    assert d.train_x.shape == (4000, 1, 40) and d.test_x.shape == (1000, 1, 40)
    assert d.dims == 1 and set(d.train_y.unique().tolist()) == set(range(10))


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(ValueError, match="digits, mnist1d, cifar10"):
        data.load("imagenet")


def test_missing_cifar10_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="RESBOOK_DATA"):
        data.cifar10(tmp_path)


def test_cifar10_through_torchvision_loader(tmp_path, monkeypatch):
    fake_cifar_files(tmp_path, per_batch=20)
    trust_fake_cifar(monkeypatch)
    monkeypatch.setenv("RESBOOK_DATA", str(tmp_path))
    d = data.cifar10()
    assert d.train_x.shape == (100, 3, 32, 32) and d.test_x.shape == (20, 3, 32, 32)
    assert d.pad == 4 and d.flip and d.train_x.dtype == torch.uint8
    floats = d.as_float()
    assert floats.train_x.dtype == torch.float32 and abs(floats.train_x.mean().item()) < 0.5


def test_augment_crops_within_padding_and_flips():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    same = data.augment(x, pad=0, flip=False)
    assert torch.equal(same, x)
    g = torch.Generator().manual_seed(1)
    out = data.augment(x, pad=2, flip=True, generator=g)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, [2] * 4)
    for i in range(2):  # each output is some 6x6 window of the padded image, maybe mirrored
        windows = [padded[i, :, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)


def test_batches_cover_every_example_once():
    x, y = torch.arange(10).float().view(10, 1), torch.arange(10)
    seen = torch.cat([yb for _, yb in data.batches(x, y, 3, shuffle=True, generator=torch.Generator())])
    assert sorted(seen.tolist()) == list(range(10))
