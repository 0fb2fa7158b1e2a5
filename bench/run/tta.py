"""Time to accuracy: train the CNN from scratch to a test accuracy, and fine-tune to one.

Like MLPerf, the figure is wall time to a target accuracy, evaluation included.
Two recipes: the seed article's (Adam 1e-3, batch 64, eager fp32, 10 epochs;
fine-tune 5) as the baseline, and a tuned one (larger batch, a one-cycle
schedule, mixed precision and torch.compile where the device gains from them).
Fine-tuning pre-trains on digits 0-4, then trains a replaced head on 5-9.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from bench.config import RequestError
from bench.measure.data import by_labels, loader
from envcheck.codec import to_jsonable
from envcheck.files import json_text, write_atomic
from envcheck.report import Environment
from envcheck.stamps import file_stamp, now_iso
from models import get_model
from models.finetune import prepare_finetune, save_checkpoint, trainable_parameters

TOOL = "torchrig.tta"


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    batch_size: int
    lr: float
    epochs: int
    finetune_epochs: int
    schedule: str | None = None  # "onecycle" or None (constant)
    amp: bool = False  # bf16 autocast
    compile: bool = False
    evals_per_epoch: int = 1


SEED = Recipe("seed", batch_size=64, lr=1e-3, epochs=10, finetune_epochs=5)


def tuned(device: str, native_bf16: bool = True) -> Recipe:
    """The tuned recipe: a one-cycle schedule, evaluation twice an epoch, bf16 autocast where bf16
    is native (docs/measurement.md, rule 12); on CUDA also a large batch and torch.compile. On the CPU the
    quick suite showed bf16 ~1.8x faster for the CNN (with AMX) while batches above 64-128 and
    compiling did not pay, so it keeps them modest there."""
    if device.startswith("cuda"):
        return Recipe("tuned", batch_size=512, lr=4e-3, epochs=10, finetune_epochs=5, schedule="onecycle",
                      amp=native_bf16, compile=True, evals_per_epoch=2)
    return Recipe("tuned", batch_size=128, lr=3e-3, epochs=10, finetune_epochs=5, schedule="onecycle",
                  amp=native_bf16, compile=False, evals_per_epoch=2)


@dataclasses.dataclass
class Point:
    epoch: float  # fractional
    wall_s: float
    accuracy: float


@dataclasses.dataclass
class Phase:
    """Training to a target: reached or not, the wall time and epochs it took, the accuracy curve."""

    reached: bool
    wall_s: float
    epochs: float
    accuracy: float
    curve: list[Point]


@dataclasses.dataclass
class RecipeResult:
    recipe: Recipe
    scratch: Phase
    pretrain: Phase
    finetune: Phase
    finetune_wall_s_including_pretrain: float


@dataclasses.dataclass
class TtaReport:
    environment: Environment
    data: str
    device: str
    target: float
    finetune_target: float
    recipes: list[RecipeResult]
    created: str
    tool: str = TOOL
    schema_version: int = 1

    def dump(self, path: Path) -> Path:
        """Atomically, never over an earlier file."""
        return write_atomic(path, json_text(to_jsonable(self)), overwrite=False)


def accuracy(model: nn.Module, data, device: str) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in data:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            correct += (model(images).argmax(1) == labels).sum().item()
            total += labels.numel()
    model.train()
    return 100.0 * correct / total


def train_to_accuracy(model: nn.Module, train, test, recipe: Recipe, *, target: float, epochs: int,
                      device: str, workers: int) -> Phase:
    """Train until test accuracy >= target or ``epochs`` run out; wall time includes evaluation."""
    model = model.to(device)
    train_loader = loader(train, recipe.batch_size, device=device, shuffle=True, workers=workers, drop_last=True)
    test_loader = loader(test, 1000, device=device, shuffle=False, workers=workers)
    optimizer = torch.optim.Adam(trainable_parameters(model), lr=recipe.lr)
    steps_per_epoch = len(train_loader)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, epochs=epochs,
                                                     steps_per_epoch=steps_per_epoch)
                 if recipe.schedule == "onecycle" else None)
    forward = torch.compile(model, dynamic=False) if recipe.compile else model
    device_type = torch.device(device).type
    eval_every = max(1, steps_per_epoch // recipe.evals_per_epoch)
    curve: list[Point] = []
    start = time.perf_counter()
    step = 0
    for _epoch in range(epochs):
        for images, labels in train_loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=recipe.amp):
                loss = nn.functional.cross_entropy(forward(images), labels)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if step % eval_every == 0:
                reached = accuracy(model, test_loader, device)
                curve.append(Point(round(step / steps_per_epoch, 3), round(time.perf_counter() - start, 3), reached))
                if reached >= target:
                    return Phase(True, curve[-1].wall_s, curve[-1].epoch, reached, curve)
    last = curve[-1] if curve else Point(0.0, round(time.perf_counter() - start, 3), 0.0)
    return Phase(False, last.wall_s, last.epoch, last.accuracy, curve)


def run_recipe(recipe: Recipe, train, test, *, target: float, finetune_target: float, device: str,
               workers: int, seed: int = 0) -> RecipeResult:
    """Both time-to-accuracy figures of one recipe: from scratch, and fine-tuning 0-4 -> 5-9."""
    spec = get_model("cnn")
    torch.manual_seed(seed)
    scratch = train_to_accuracy(spec.build(), train, test, recipe, target=target, epochs=recipe.epochs,
                                device=device, workers=workers)
    torch.manual_seed(seed)
    start = time.perf_counter()
    backbone = spec.build()
    pretrained = train_to_accuracy(backbone, by_labels(train, range(0, 5)), by_labels(test, range(0, 5)),
                                   recipe, target=finetune_target, epochs=recipe.finetune_epochs,
                                   device=device, workers=workers)
    with tempfile.TemporaryDirectory(prefix="torchrig-tta-") as folder:
        # the pre-trained model goes through the same safe checkpoint path as any fine-tune
        path = save_checkpoint(backbone, Path(folder) / "cnn-digits-0-4.pt")
        model = prepare_finetune(spec, path, num_classes=5)
    finetune = train_to_accuracy(model, by_labels(train, range(5, 10), relabel=True),
                                 by_labels(test, range(5, 10), relabel=True), recipe, target=finetune_target,
                                 epochs=recipe.finetune_epochs, device=device, workers=workers)
    return RecipeResult(recipe, scratch, pretrained, finetune, round(time.perf_counter() - start, 3))



@dataclasses.dataclass
class TtaRequest:
    """`bench tta`'s arguments, checked before any data is loaded."""

    recipes: tuple[str, ...] = ("seed", "tuned")
    target: float = 99.0
    finetune_target: float = 98.0
    data: str = "synthetic-digits"
    data_dir: Path | None = None
    download: bool = False
    workers: int | None = None
    out: Path = Path("results")
    device: str = "auto"

    def __post_init__(self) -> None:
        from bench.run.request import InvocationRequest

        unknown = [name for name in self.recipes if name not in ("seed", "tuned")]
        if unknown or not self.recipes:
            raise RequestError(f"unknown recipe {unknown[0] if unknown else ''!r} "
                               "(expected a comma list of seed, tuned)")
        for name, value in (("--target", self.target), ("--finetune-target", self.finetune_target)):
            if not 0 < value <= 100:
                raise RequestError(f"{name} must be a percentage in (0, 100], got {value}")
        if self.data == "synthetic-device":
            raise RequestError("tta needs real samples: --data mnist or synthetic-digits")
        self.checked = InvocationRequest(out=self.out, data=self.data, data_dir=self.data_dir, download=self.download,
                                         loader_workers=self.workers)  # the data and the output folder

    def check_disk(self) -> None:
        self.checked.check_disk()

    def path(self) -> Path:
        stamp = file_stamp()
        return self.out / "tta" / f"{stamp}-tta.json"


def run_tta(request: TtaRequest, progress) -> TtaReport:
    """Every recipe asked for, from scratch and fine-tuned; a data problem is a RequestError (exit 2)."""
    from bench.measure.data import DataError, dataset
    from bench.run.plan import check_data_support, resolve_device
    from envcheck import snapshot

    request.check_disk()
    environment = snapshot()
    device = resolve_device(request.device, environment, "")
    check_data_support(request.checked, environment, "")  # a torchvision that cannot import: one line, exit 2
    native_bf16 = environment.facts.capabilities(device).support("amp-bf16").native
    known = {"seed": SEED, "tuned": tuned(device, native_bf16)}
    try:
        train = dataset(request.data, request.data_dir, train=True, download=request.download)
        test = dataset(request.data, request.data_dir, train=False, download=request.download)
    except DataError as error:
        raise RequestError(str(error)) from None
    results = []
    for name in request.recipes:
        progress.note(f"tta: recipe {name} on {device} ({request.data}) ...")
        results.append(run_recipe(known[name], train, test, target=request.target,
                                  finetune_target=request.finetune_target, device=device,
                                  workers=request.checked.loader_workers_or_default))
    return TtaReport(environment, request.data, device, request.target, request.finetune_target, results, now_iso())
