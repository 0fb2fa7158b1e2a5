"""Real and synthetic data: MNIST through torchvision, and a learnable synthetic digit set.

MNIST is read with ``download=False`` unless asked (validation machines are often
offline). Files may sit in DIR/MNIST/raw as the four IDX files or their ``.gz``
archives; archives are unpacked locally, never fetched.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
MNIST_MEAN, MNIST_STD = 0.5, 0.5  # the seed article's Normalize((0.5,), (0.5,))


class DataError(ValueError):
    """Missing or unreadable data: one line naming what was expected."""


def unpack_archives(raw: Path) -> None:
    """Unpack DIR/MNIST/raw/*.gz next to themselves where the plain file is missing."""
    for name in MNIST_FILES:
        plain, archive = raw / name, raw / f"{name}.gz"
        if not plain.exists() and archive.exists():
            try:
                with gzip.open(archive, "rb") as source, open(plain, "wb") as target:
                    shutil.copyfileobj(source, target)
            except (OSError, EOFError) as error:
                plain.unlink(missing_ok=True)
                raise DataError(f"{archive} is not a readable gzip file ({error}); "
                                "replace it or pass --download") from None


def mnist(data_dir: Path, *, train: bool, download: bool = False) -> Dataset:
    """torchvision's MNIST with the seed's transforms; DataError names the missing files."""
    from torchvision import datasets, transforms

    raw = Path(data_dir) / "MNIST" / "raw"
    if raw.is_dir():
        unpack_archives(raw)
    if not download:
        missing = [name for name in MNIST_FILES if not (raw / name).exists()]
        if missing:
            raise DataError(f"MNIST not found under {raw}: expected {', '.join(MNIST_FILES)} "
                            f"(or their .gz archives); missing {', '.join(missing)}; pass --download to fetch them")
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    try:
        return datasets.MNIST(str(data_dir), train=train, download=download, transform=transform)
    except (RuntimeError, ValueError, OSError, AssertionError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"cannot read MNIST under {raw}: {message}; the files may be corrupt "
                        "(delete them and pass --download)") from None


@dataclasses.dataclass(frozen=True)
class SyntheticDigits:
    """Deterministic, learnable 28x28 'digits': a fixed random prototype per class plus noise.

    The noise (3.5 times a unit Gaussian, against prototypes whose pixels vary by
    about 0.5) makes it a real learning problem: the seed's recipe on a CPU reached
    98.9 % test accuracy after one epoch and 99.25 % after two (noise 4.0 stalled
    below 98 %; 2.5 reached 100 % at once).
    """

    train_size: int = 12_000
    test_size: int = 2_000
    noise: float = 3.5
    seed: int = 0

    def prototypes(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        coarse = torch.randn(10, 1, 7, 7, generator=generator)
        return torch.nn.functional.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)

    def split(self, train: bool) -> TensorDataset:
        size = self.train_size if train else self.test_size
        generator = torch.Generator().manual_seed(self.seed + (1 if train else 2))
        labels = torch.randint(0, 10, (size,), generator=generator)
        images = self.prototypes()[labels] + self.noise * torch.randn(size, 1, 28, 28, generator=generator)
        return TensorDataset(images, labels)


def dataset(source: str, data_dir: Path | None, *, train: bool, download: bool = False) -> Dataset:
    if source == "mnist":
        if data_dir is None:
            raise DataError("--data mnist needs --data-dir DIR (the folder holding MNIST/raw)")
        return mnist(data_dir, train=train, download=download)
    if source == "synthetic-digits":
        return SyntheticDigits().split(train)
    raise DataError(f"unknown data source {source!r}; expected mnist or synthetic-digits")


def labels_of(data: Dataset) -> torch.Tensor:
    if isinstance(data, TensorDataset):
        return data.tensors[1]
    return torch.as_tensor(data.targets)


def by_labels(data: Dataset, labels: range, relabel: bool = False) -> Dataset:
    """The samples whose label is in ``labels`` (digits 0-4, say), optionally renumbered from 0."""
    targets = labels_of(data)
    keep = torch.isin(targets, torch.tensor(list(labels))).nonzero().flatten().tolist()
    subset = Subset(data, keep)
    return _Relabelled(subset, labels.start) if relabel else subset


class _Relabelled(Dataset):
    def __init__(self, data: Dataset, offset: int) -> None:
        self.data, self.offset = data, offset

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        image, label = self.data[index]
        return image, int(label) - self.offset


def loader(data: Dataset, batch_size: int, *, device: str, shuffle: bool, workers: int,
           drop_last: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader with worker processes and pinned memory on CUDA, as real training uses."""
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      pin_memory=device.startswith("cuda"), persistent_workers=workers > 0,
                      drop_last=drop_last, generator=torch.Generator().manual_seed(seed))
