"""One training step of a case: model, optimizer, precision, backend, device-resident data.

The step never synchronises with the host (no ``loss.item()``); the last loss stays
a device tensor, read only outside the timed region. The one exception is
GradScaler (amp-fp16), whose ``step`` checks for infs on the host by design.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from bench.cases import Case
from bench.config import LEARNING_RATE
from models import get_model
from models.finetune import ParameterCount, count_parameters, prepare_finetune, trainable_parameters

AMP_DTYPES = {"amp-bf16": torch.bfloat16, "amp-fp16": torch.float16}
COMPILE_MODES = {"compile": None, "compile-reduce-overhead": "reduce-overhead",
                 "compile-max-autotune": "max-autotune"}
DATA_SEED = 0


def set_tf32(enabled: bool) -> None:
    """TF32 for matmul and cuDNN convolutions: on only for the tf32 precision."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def compile_model(model: nn.Module, backend: str) -> nn.Module:
    """The model as the backend runs it; compiled with static shapes (rule 5)."""
    if backend == "eager":
        return model
    return torch.compile(model, mode=COMPILE_MODES[backend], dynamic=False)


class TrainStep:
    """Callable: one optimisation step on a fixed synthetic batch resident on the device."""

    def __init__(self, case: Case, checkpoint: Path | None = None, wrap=None) -> None:
        """``wrap`` turns the model into what is trained, e.g. DistributedDataParallel."""
        self.case = case
        self.device = torch.device(case.device)
        spec = get_model(case.model)
        torch.manual_seed(DATA_SEED)
        model = prepare_finetune(spec, checkpoint) if case.mode == "finetune" else spec.build()
        model = model.to(self.device)
        if case.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.parameters: ParameterCount = count_parameters(model)
        self.optimizer = torch.optim.Adam(trainable_parameters(model), lr=LEARNING_RATE)
        generator = torch.Generator(device=self.device).manual_seed(DATA_SEED)
        self.inputs = torch.randn(case.batch_size, *spec.input_shape, device=self.device, generator=generator)
        if case.channels_last:
            self.inputs = self.inputs.contiguous(memory_format=torch.channels_last)
        self.targets = torch.randint(0, spec.num_classes, (case.batch_size,), device=self.device,
                                     generator=generator)
        set_tf32(case.precision == "tf32")
        self.amp_dtype = AMP_DTYPES.get(case.precision)
        self.scaler = torch.amp.GradScaler(self.device.type) if case.precision == "amp-fp16" else None
        self.forward = compile_model(wrap(model) if wrap else model, case.backend)
        self.mark_step = (torch.compiler.cudagraph_mark_step_begin
                          if case.backend == "compile-reduce-overhead" else None)
        self.loss: torch.Tensor | None = None

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def loss_of(self, forward) -> torch.Tensor:
        with self.autocast():
            return nn.functional.cross_entropy(forward(self.inputs), self.targets)

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

    def loss_value(self) -> float:
        """The last step's loss, read on the host (synchronises: call outside timing)."""
        return float("nan") if self.loss is None else self.loss.float().item()

    def close(self) -> None:
        """Release what the step holds outside the process (DataLoader workers)."""

    def count_flops(self) -> int:
        """FLOPs of one forward+backward in eager (torch.utils.flop_counter); no update."""
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            self.loss_of(self.model).backward()
        self.optimizer.zero_grad(set_to_none=True)
        return counter.get_total_flops()


class LoaderTrainStep(TrainStep):
    """An end-to-end step: the next batch from a DataLoader (workers, pinned memory,
    non-blocking copy), then the same optimisation step. The input pipeline is part
    of what is timed, so the case's data source is recorded as the real one."""

    def __init__(self, case: Case, data, workers: int, checkpoint: Path | None = None, wrap=None) -> None:
        super().__init__(case, checkpoint, wrap)
        from bench.data import loader

        self.loader = loader(data, case.batch_size, device=case.device, shuffle=True, workers=workers,
                             drop_last=True)
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
