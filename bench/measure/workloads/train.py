"""Training steps: train (all parameters), finetune (frozen backbone, new head), finetune-lora
(adapters only), on a fixed batch on the device or end to end through a DataLoader."""

from __future__ import annotations

import torch

from bench import config
from bench.measure.jobs import Options
from bench.measure.workloads.base import Step, compile_model
from bench.results.cases import Case
from models.finetune import trainable_parameters


def make_optimizer(name: str, parameters) -> torch.optim.Optimizer:
    """The optimizer the model's users train it with; it sees only trainable parameters."""
    if name == "sgd-momentum":
        return torch.optim.SGD(parameters, lr=config.SGD_LEARNING_RATE, momentum=config.SGD_MOMENTUM)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=config.LEARNING_RATE)
    return torch.optim.Adam(parameters, lr=config.LEARNING_RATE)


class TrainStep(Step):
    """One optimisation step. The loss stays a device tensor; GradScaler (amp-fp16) is the one
    part that reads the host, by design, to skip steps with infs."""

    def __init__(self, case: Case, options: Options, wrap=None) -> None:
        """``wrap`` turns the model into what is trained, e.g. DistributedDataParallel."""
        super().__init__(case, options)
        self.model.train()
        self.optimizer_name = self.spec.optimizer
        self.optimizer = make_optimizer(self.spec.optimizer, trainable_parameters(self.model))
        self.scaler = torch.amp.GradScaler(self.device.type) if case.precision == "amp-fp16" else None
        self.forward = compile_model(wrap(self.model) if wrap else self.model, case.backend)
        self.mark_step = (torch.compiler.cudagraph_mark_step_begin
                          if case.backend == "compile-reduce-overhead" else None)

    def __call__(self) -> None:
        if self.mark_step is not None:
            self.mark_step()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_of(self.forward)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.loss = loss.detach()

    def flops_pass(self) -> None:
        self.loss_of(self.model).backward()
        self.optimizer.zero_grad(set_to_none=True)


class LoaderTrainStep(TrainStep):
    """An end-to-end step: the next batch from a DataLoader (workers, pinned memory, non-blocking
    copy), then the same optimisation step. The input pipeline is part of what is timed."""

    def __init__(self, case: Case, options: Options, wrap=None) -> None:
        super().__init__(case, options, wrap)
        from bench.measure.data import dataset, loader

        data = dataset(case.data, options.data_dir, train=True)
        self.loader = loader(data, case.batch_size, device=case.device, shuffle=True,
                             workers=options.loader_workers, drop_last=True)
        if len(self.loader) == 0:
            raise ValueError(f"the dataset has fewer than {case.batch_size} samples: no full batch")
        self.batches = iter(self.loader)

    def next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:  # a new epoch
            self.batches = iter(self.loader)
            return next(self.batches)

    def __call__(self) -> None:
        images, labels = self.next_batch()
        self.inputs = images.to(self.device, non_blocking=True)
        self.targets = labels.to(self.device, non_blocking=True)
        super().__call__()

    def close(self) -> None:
        self.batches = None
        self.loader = None
