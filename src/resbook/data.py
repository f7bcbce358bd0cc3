"""The book's data sets, held as tensors.

`digits` and `mnist1d` are real data that need no internet; `fashion_mnist` (real 28x28 photographs of
clothing, 60,000 + 10,000) comes from Debian's `dataset-fashion-mnist` package or any copy of its four files;
`fashion_slice`, a fixed small part of it that a CPU trains in minutes, ships inside the package; `cifar10` is
the papers' data set and goes through torchvision's loader from a folder the reader provides. Small data sets
are batched by slicing tensors, with no per-image loader in the hot path.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import pathlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

DATASETS = ("digits", "mnist1d", "fashion_mnist", "fashion_slice", "cifar10")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class Dataset:
    """Train and test tensors plus what a model needs to know about their shape."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    pad: int = 0  # >0: random-crop augmentation pads by this much (CIFAR's 4 pixels)
    flip: bool = False  # horizontal flips are a valid augmentation
    # set when x holds raw uint8 pixels (CIFAR-10 for training): `prepare` scales and normalises per channel
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def dims(self) -> int:
        """1 for sequences (N, C, L), 2 for images (N, C, H, W)."""
        return self.train_x.dim() - 2

    def to(self, device: torch.device | str) -> Dataset:
        moved = {k: getattr(self, k).to(device) for k in ("train_x", "train_y", "test_x", "test_y")}
        return replace(self, **moved)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Network input from stored input: uint8 pixels become normalised floats; floats pass through."""
        if x.dtype != torch.uint8:
            return x
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float().div_(255) - mean) / std

    def as_float(self) -> Dataset:
        """The same data with normalised float inputs (what probes and plots expect)."""
        return replace(self, train_x=self.prepare(self.train_x), test_x=self.prepare(self.test_x), mean=None, std=None)


def load(name: str, *, pixels: bool = False) -> Dataset:
    """The data set called `name` (one of DATASETS), with float inputs.

    `pixels=True` keeps CIFAR-10 as uint8 pixels (a quarter of the memory; training normalises each
    batch on the device with `Dataset.prepare`); the other data sets are floats either way.
    """
    loaders = {"digits": digits, "mnist1d": mnist1d, "fashion_mnist": fashion_mnist, "fashion_slice": fashion_slice,
               "cifar10": cifar10}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    dataset = loaders[name]()
    return dataset if pixels else dataset.as_float()


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    # one scalar mean and std from the training split: per-pixel stats divide by zero on blank borders
    mean, std = train.mean(), train.std()
    return (torch.tensor((train - mean) / std, dtype=torch.float32),
            torch.tensor((test - mean) / std, dtype=torch.float32))


@functools.lru_cache(maxsize=1)
def digits() -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits: 1,437 train / 360 test, stratified, fixed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None]  # (N, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, bunch.target, test_size=0.2, stratify=bunch.target, random_state=0
    )
    train_x, test_x = _standardise(x_tr, x_te)
    return Dataset("digits", train_x, torch.tensor(y_tr), test_x, torch.tensor(y_te), num_classes=10)


@functools.lru_cache(maxsize=1)
def mnist1d(num_samples: int = 5000, seed: int = 42) -> Dataset:
    """MNIST-1D (Greydanus 2020), generated here with `make_dataset`: 4,000 train / 1,000 test, length 40.

    Never calls `get_dataset`, which downloads.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    data = make_dataset(args)
    x_tr = np.asarray(data["x"], dtype=np.float32)[:, None]  # (N, 1, 40)
    x_te = np.asarray(data["x_test"], dtype=np.float32)[:, None]
    train_x, test_x = _standardise(x_tr, x_te)
    return Dataset("mnist1d", train_x, torch.as_tensor(data["y"]).long(), test_x,
                   torch.as_tensor(data["y_test"]).long(), num_classes=10)


def data_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("RESBOOK_DATA", pathlib.Path.home() / ".cache" / "resbook-data"))


def cifar10(root: str | os.PathLike | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 through torchvision's loader: 50,000 train / 10,000 test, as uint8 pixels (N, 3, 32, 32).

    `Dataset.prepare` normalises with the usual per-channel mean and std; `as_float()` does it for all.

    The files are read from `root` (default: $RESBOOK_DATA, else ~/.cache/resbook-data). Without
    them, and without `download=True`, this raises a FileNotFoundError saying how to get them.
    """
    from torchvision.datasets import CIFAR10

    root = pathlib.Path(root) if root is not None else data_root()
    try:
        train = CIFAR10(str(root), train=True, download=download)
        test = CIFAR10(str(root), train=False, download=download)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise FileNotFoundError(
            f"CIFAR-10 not found under {root} (expected {root / 'cifar-10-batches-py'}). "
            "Fix: on a machine with internet run "
            "`python -c \"import resbook.data as d; d.cifar10(download=True)\"`, "
            "or copy the extracted cifar-10-batches-py folder there, or point RESBOOK_DATA at the "
            "folder that holds it. Offline, use the `digits` or `mnist1d` data sets instead."
        ) from err

    def tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.asarray(split.data)).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW, uint8
        return x, torch.tensor(split.targets, dtype=torch.long)

    train_x, train_y = tensors(train)
    test_x, test_y = tensors(test)
    return Dataset("cifar10", train_x, train_y, test_x, test_y, num_classes=10, pad=4, flip=True,
                   mean=CIFAR_MEAN, std=CIFAR_STD)


# where Debian's dataset-fashion-mnist package puts the four original IDX files (gzipped)
DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                       "t10k-labels-idx1-ubyte")


def fashion_mnist_raw(root: pathlib.Path) -> pathlib.Path:
    """`root/FashionMNIST/raw`, the folder torchvision reads; missing files are unpacked from Debian's."""
    raw, debian = root / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST
    for name in FASHION_MNIST_FILES:
        packed = debian / f"{name}.gz"
        if not (raw / name).exists() and packed.exists():
            raw.mkdir(parents=True, exist_ok=True)
            partial = raw / f".{name}.partial"
            with gzip.open(packed, "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(raw / name)  # whole or absent: an interrupted unpack is never read
    return raw


def _checked_split(split, size: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision MNIST-style split as (uint8 (N, 1, 28, 28), labels), after checking it is whole."""
    x, y = split.data, split.targets
    counts = torch.bincount(y, minlength=10).tolist()
    if x.shape != (size, 28, 28) or x.dtype != torch.uint8 or counts != [size // 10] * 10:
        raise ValueError(f"Fashion-MNIST {what} split is not the original ({tuple(x.shape)}, {x.dtype}, "
                         f"images per class {counts}; expected ({size}, 28, 28) uint8, {size // 10} per class). "
                         f"Delete {pathlib.Path(split.raw_folder)} and load it again.")
    return x[:, None].contiguous(), y.long()


@functools.lru_cache(maxsize=2)
def fashion_mnist(root: str | os.PathLike | None = None) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017) through torchvision's loader: 60,000 train / 10,000 test 28x28 uint8.

    Read from `root/FashionMNIST/raw` (default root: $RESBOOK_DATA, else ~/.cache/resbook-data), which is
    filled from Debian's `dataset-fashion-mnist` package when that is installed; never downloads. Checked
    (shapes, dtype, 6,000 / 1,000 images per class) before use. Augmented as CIFAR-10 (pad-4 crop, flips:
    clothing looks the same mirrored) and normalised with the training set's mean and std.
    """
    from torchvision.datasets import FashionMNIST

    root = pathlib.Path(root) if root is not None else data_root()
    raw = fashion_mnist_raw(root)
    try:
        train = FashionMNIST(str(root), train=True, download=False)
        test = FashionMNIST(str(root), train=False, download=False)
    except RuntimeError as err:  # torchvision's "Dataset not found"
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {raw} (nor in {DEBIAN_FASHION_MNIST}). Fix: install Debian's package "
            "(`sudo apt-get install dataset-fashion-mnist`), or copy the four "
            f"files {', '.join(FASHION_MNIST_FILES)} (unpacked or .gz) into {raw}, or point RESBOOK_DATA at a "
            "folder whose FashionMNIST/raw holds them."
        ) from err
    train_x, train_y = _checked_split(train, 60_000, "training")
    test_x, test_y = _checked_split(test, 10_000, "test")
    return _pixels("fashion_mnist", train_x, train_y, test_x, test_y)


def _pixels(name: str, train_x, train_y, test_x, test_y) -> Dataset:
    """A grey-scale image data set kept as uint8, normalised by its own training images' mean and std."""
    scaled = train_x.float() / 255
    return Dataset(name, train_x, train_y, test_x, test_y, num_classes=10, pad=4, flip=True,
                   mean=(scaled.mean().item(),), std=(scaled.std().item(),))


# Fashion-MNIST's fixed slice for the cpu profile: enough images for the degradation problem to show, few
# enough that Chapter 1's plain and residual nets train within its 10-minute budget
SLICE_TRAIN_PER_CLASS = 100
SLICE_TEST_PER_CLASS = 50
# The slice ships inside the package (1,500 images, 0.6 MB), so the default book needs no system package and no
# root: Colab, Binder, a Mac. Fashion-MNIST is MIT-licensed; its licence lies beside the file.
SLICE_FILE = pathlib.Path(__file__).resolve().parent / "data_files" / "fashion_slice.npz"
SLICE_SHA256 = "49a0a172f27065315009e36f589affdac4d8b815d52a72966a7d9f35834fb8bf"
_SLICE_ARRAYS = ("train_x", "train_y", "test_x", "test_y")


def cut_fashion_slice(full: Dataset) -> dict[str, torch.Tensor]:
    """The first SLICE_TRAIN_PER_CLASS training and SLICE_TEST_PER_CLASS test images of each class of the full
    Fashion-MNIST, in file order (how the shipped file was made; a test checks it still matches)."""
    def first(y: torch.Tensor, per_class: int) -> torch.Tensor:
        keep = torch.cat([torch.nonzero(y == c).flatten()[:per_class] for c in range(10)])
        return keep.sort().values

    tr, te = first(full.train_y, SLICE_TRAIN_PER_CLASS), first(full.test_y, SLICE_TEST_PER_CLASS)
    return {"train_x": full.train_x[tr], "train_y": full.train_y[tr], "test_x": full.test_x[te],
            "test_y": full.test_y[te]}


def write_fashion_slice(path: str | os.PathLike = SLICE_FILE) -> str:
    """Cut the slice from the full set (`fashion_mnist()`) into `path`; returns its sha256 (for SLICE_SHA256)."""
    arrays = {name: t.numpy() for name, t in cut_fashion_slice(fashion_mnist()).items()}
    np.savez_compressed(path, **arrays)
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=1)
def fashion_slice() -> Dataset:
    """The shipped slice (`cut_fashion_slice`), checked against its sha256; normalised by its own training
    images."""
    try:
        blob = SLICE_FILE.read_bytes()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"the package's Fashion-MNIST slice {SLICE_FILE} is missing. Fix: reinstall the "
                                "package (pip install -e . in a checkout), or, with the full set installed, run "
                                "python -c 'from resbook import data; data.write_fashion_slice()'") from err
    if hashlib.sha256(blob).hexdigest() != SLICE_SHA256:
        raise ValueError(f"{SLICE_FILE} is not the slice this package was released with (sha256 differs). Fix: "
                         "restore it from the repository (git checkout -- src/resbook/data_files) or reinstall.")
    with np.load(io.BytesIO(blob)) as npz:
        t = {name: torch.from_numpy(npz[name]) for name in _SLICE_ARRAYS}
    return _pixels("fashion_slice", t["train_x"], t["train_y"].long(), t["test_x"], t["test_y"].long())


def augment(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop after zero padding by `pad`, and random horizontal flips, on whole batches.

    Runs on the tensor's own device and dtype (uint8 pixels included), so a GPU augments without a trip
    through the CPU.
    """
    n = x.shape[0]
    device = x.device
    if pad:
        size = x.shape[-2:]
        padded = torch.nn.functional.pad(x, [pad] * 4)
        offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device="cpu").to(device)
        rows = offsets[0].view(n, 1) + torch.arange(size[0], device=device).view(1, -1)
        cols = offsets[1].view(n, 1) + torch.arange(size[1], device=device).view(1, -1)
        batch = torch.arange(n, device=device).view(n, 1, 1, 1)
        chans = torch.arange(x.shape[1], device=device).view(1, -1, 1, 1)
        x = padded[batch, chans, rows.view(n, 1, -1, 1), cols.view(n, 1, 1, -1)]
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(device)
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(-1), x)
    return x


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches by slicing (after one random permutation when `shuffle`)."""
    n = x.shape[0]
    if shuffle:
        order = torch.randperm(n, generator=generator).to(x.device)
        x, y = x[order], y[order]
    for start in range(0, n, batch_size):
        yield x[start:start + batch_size], y[start:start + batch_size]
