"""Data made on the fly for tests: never a download."""

import pickle

import numpy as np


def fake_cifar_files(root, per_batch=40):
    """CIFAR-10's on-disk format (pickled batches) with random images: torchvision's real loader reads it."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)


def trust_fake_cifar(monkeypatch):
    """The fake files cannot match CIFAR-10's published checksums; everything else is the real path."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)


def fake_fashion_mnist_files(folder, train=60_000, test=10_000):
    """Fashion-MNIST's four gzipped IDX files, of its real shape (28x28 uint8, classes in turn) but made here:
    each image is a flat grey of its class, so they are quick to write and compress."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.repeat(labels * 25, 28 * 28).astype(np.uint8)
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
            f.write(np.array([0x803, n, 28, 28], dtype=">i4").tobytes() + images.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb", compresslevel=1) as f:
            f.write(np.array([0x801, n], dtype=">i4").tobytes() + labels.tobytes())
