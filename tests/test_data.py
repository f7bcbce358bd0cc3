import pytest
import torch

from resbook import data

from .fakes import fake_cifar_files, fake_fashion_mnist_files, trust_fake_cifar


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
    with pytest.raises(ValueError, match="digits, mnist1d, fashion_mnist, fashion_slice, cifar10"):
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


def _fashion_from(debian, root, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    return data.fashion_mnist.__wrapped__(root)  # past the cache: these files, not the installed ones


def test_fashion_mnist_is_unpacked_from_the_debian_files_and_read_by_torchvision(tmp_path, monkeypatch):
    fake_fashion_mnist_files(tmp_path / "debian")
    d = _fashion_from(tmp_path / "debian", tmp_path / "data", monkeypatch)
    assert sorted(p.name for p in (tmp_path / "data" / "FashionMNIST" / "raw").iterdir()) == sorted(
        data.FASHION_MNIST_FILES)
    assert d.train_x.shape == (60_000, 1, 28, 28) and d.test_x.shape == (10_000, 1, 28, 28)
    assert d.train_x.dtype == torch.uint8 and d.pad == 4 and d.flip
    assert d.train_y[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # file order, labels with their images
    assert torch.all(d.train_x[:, 0, 0, 0] == d.train_y * 25)
    floats = d.as_float().train_x  # normalised by the training images' own mean and std
    assert abs(floats.mean().item()) < 1e-3 and abs(floats.std().item() - 1) < 1e-3


def test_a_fashion_mnist_that_is_not_the_original_is_refused(tmp_path, monkeypatch):
    fake_fashion_mnist_files(tmp_path / "debian", train=59_990)
    with pytest.raises(ValueError, match="not the original.*Delete"):
        _fashion_from(tmp_path / "debian", tmp_path / "data", monkeypatch)


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist.*RESBOOK_DATA"):
        _fashion_from(tmp_path / "no-debian", tmp_path / "data", monkeypatch)


def test_the_shipped_slice_needs_no_system_package(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    monkeypatch.setenv("RESBOOK_DATA", str(tmp_path / "empty"))
    s = data.fashion_slice.__wrapped__()
    assert s.train_x.shape == (10 * data.SLICE_TRAIN_PER_CLASS, 1, 28, 28) and s.train_x.dtype == torch.uint8
    assert torch.bincount(s.train_y).tolist() == [data.SLICE_TRAIN_PER_CLASS] * 10
    assert torch.bincount(s.test_y).tolist() == [data.SLICE_TEST_PER_CLASS] * 10
    assert 0.25 < s.mean[0] < 0.32  # Fashion-MNIST's pixel mean is 0.286: real clothing, not noise or zeros


def test_a_changed_or_missing_slice_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    changed = tmp_path / "fashion_slice.npz"
    blob = bytearray(data.SLICE_FILE.read_bytes())
    blob[-100] ^= 1
    changed.write_bytes(bytes(blob))
    monkeypatch.setattr(data, "SLICE_FILE", changed)
    with pytest.raises(ValueError, match="sha256 differs.*git checkout"):
        data.fashion_slice.__wrapped__()
    monkeypatch.setattr(data, "SLICE_FILE", tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="reinstall"):
        data.fashion_slice.__wrapped__()


@pytest.mark.skipif(not data.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_installed_fashion_mnist_and_its_slice():
    d = data.fashion_mnist()
    assert d.mean[0] == pytest.approx(0.2860, abs=1e-3) and d.std[0] == pytest.approx(0.3530, abs=1e-3)
    s, cut = data.fashion_slice(), data.cut_fashion_slice(d)
    for name in ("train_x", "train_y", "test_x", "test_y"):  # the shipped file is what the cut gives
        assert torch.equal(getattr(s, name), cut[name]), name
    assert torch.equal(s.train_x[0], d.train_x[0])  # the first images of the file, in its order
