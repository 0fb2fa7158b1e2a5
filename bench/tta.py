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
from typing import Any

import torch
from torch import nn

from bench.data import by_labels, loader
from models import get_model
from models.finetune import prepare_finetune, save_checkpoint, trainable_parameters


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


def tuned(device: str) -> Recipe:
    """The tuned recipe: a one-cycle schedule, bf16 autocast, evaluation twice an epoch; on CUDA
    also a large batch and torch.compile. On the CPU the quick suite showed bf16 ~1.8x faster for
    the CNN while batches above 64-128 and compiling did not pay, so it keeps them modest there."""
    if device.startswith("cuda"):
        return Recipe("tuned", batch_size=512, lr=4e-3, epochs=10, finetune_epochs=5, schedule="onecycle",
                      amp=True, compile=True, evals_per_epoch=2)
    return Recipe("tuned", batch_size=128, lr=3e-3, epochs=10, finetune_epochs=5, schedule="onecycle",
                  amp=True, compile=False, evals_per_epoch=2)


@dataclasses.dataclass
class Curve:
    """Accuracy after each evaluation, with the epoch (fractional) and wall time it was reached."""

    points: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def add(self, epoch: float, seconds: float, accuracy: float) -> None:
        self.points.append({"epoch": round(epoch, 3), "wall_s": round(seconds, 3), "accuracy": accuracy})


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
                      device: str, workers: int) -> dict[str, Any]:
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
    curve = Curve()
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
                curve.add(step / steps_per_epoch, time.perf_counter() - start, reached)
                if reached >= target:
                    return {"reached": True, "wall_s": curve.points[-1]["wall_s"],
                            "epochs": curve.points[-1]["epoch"], "accuracy": reached, "curve": curve.points}
    last = curve.points[-1] if curve.points else {"wall_s": time.perf_counter() - start, "epoch": 0, "accuracy": 0}
    return {"reached": False, "wall_s": last["wall_s"], "epochs": last["epoch"], "accuracy": last["accuracy"],
            "curve": curve.points}


def run_recipe(recipe: Recipe, train, test, *, target: float, finetune_target: float, device: str,
               workers: int, seed: int = 0) -> dict[str, Any]:
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
    return {"recipe": dataclasses.asdict(recipe), "scratch": scratch, "pretrain": pretrained,
            "finetune": finetune, "finetune_wall_s_including_pretrain": round(time.perf_counter() - start, 3)}

