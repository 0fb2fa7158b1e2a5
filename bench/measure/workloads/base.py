"""The parts every step shares: the model for a case (fresh, fine-tuned or with LoRA), synthetic
inputs on the device, autocast and torch.compile, FLOPs counted once in eager."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from bench.measure.jobs import Options
from bench.results.cases import Case
from bench.results.records import Workload
from envcheck.capabilities import PRECISIONS, torch_dtype
from models.finetune import count_parameters, prepare_finetune, pretrain_checkpoint

COMPILE_MODES = {"compile": None, "compile-reduce-overhead": "reduce-overhead",
                 "compile-max-autotune": "max-autotune"}
DATA_SEED = 0


def compile_model(model: nn.Module, backend: str) -> nn.Module:
    """The model as the backend runs it; compiled with static shapes (rule 5)."""
    if backend == "eager":
        return model
    return torch.compile(model, mode=COMPILE_MODES[backend], dynamic=False)


def checkpoint_for(case: Case, options: Options) -> Path:
    """The checkpoint a fine-tune case starts from: the user's, or one made by a short pre-training
    (shared by the case's runs: the first run makes it)."""
    if options.checkpoint is not None:
        return options.checkpoint
    path = options.checkpoint_dir / f"{case.model}.pt"
    if not path.exists():
        pretrain_checkpoint(case.spec, path)
    return path


def build_model(case: Case, options: Options) -> tuple[nn.Module, list[str]]:
    """The case's model on its device, and notes on how it was set up (fine-tune head, LoRA)."""
    spec = case.spec
    torch.manual_seed(DATA_SEED)
    notes = []
    if case.mode == "finetune":
        path = checkpoint_for(case, options)
        model = prepare_finetune(spec, path)
        notes.append(f"fine-tune: backbone frozen, new head {', '.join(spec.head)} (from {path.name})")
    else:
        model = spec.build()
    if case.mode == "finetune-lora":
        from models.llm import add_lora

        model = add_lora(model, options.lora_rank, options.lora_targets)
        notes.append(f"LoRA rank {options.lora_rank} on {', '.join(options.lora_targets)}")
    model = model.to(case.device)
    if case.channels_last:
        model = model.to(memory_format=torch.channels_last)
        notes.append("channels-last")
    return model, notes


class Step:
    """Callable: one step of a case on inputs resident on the device."""

    optimizer_name: str | None = None

    def __init__(self, case: Case, options: Options) -> None:
        self.case = case
        self.device = torch.device(case.device)
        self.spec = case.spec
        self.model, self.notes = build_model(case, options)
        self.amp_dtype = torch_dtype(torch, case.precision) if PRECISIONS[case.precision].autocast else None
        self.inputs, self.targets = self.synthetic_batch()
        self.loss: torch.Tensor | None = None

    def synthetic_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A fixed batch on the device: images and labels, or token ids (their own targets)."""
        generator = torch.Generator(device=self.device).manual_seed(DATA_SEED)
        batch, spec = self.case.batch_size, self.spec
        if spec.kind == "causal-lm":
            ids = torch.randint(0, spec.num_classes, (batch, *spec.input_shape), device=self.device,
                                generator=generator)
            return ids, None
        inputs = torch.randn(batch, *spec.input_shape, device=self.device, generator=generator)
        if self.case.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        targets = torch.randint(0, spec.num_classes, (batch,), device=self.device, generator=generator)
        return inputs, targets

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def loss_of(self, forward) -> torch.Tensor:
        with self.autocast():
            if self.spec.kind == "causal-lm":
                return forward(input_ids=self.inputs, labels=self.inputs).loss
            return nn.functional.cross_entropy(forward(self.inputs), self.targets)

    def __call__(self) -> None:
        raise NotImplementedError

    def loss_value(self) -> float | None:
        """The last step's loss, read on the host (synchronises: call outside timing)."""
        return None if self.loss is None else self.loss.float().item()

    def flops_pass(self) -> None:
        """What one step computes, run eagerly under the FLOP counter."""
        raise NotImplementedError

    def count_flops(self) -> int:
        """FLOPs of one step in eager, attention included: SDPA is counted through its math
        kernel, since the fused CPU kernel has no FLOP formula (and would be missed)."""
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with sdpa_kernel([SDPBackend.MATH]), counter:
            self.flops_pass()
        return counter.get_total_flops()

    def workload(self) -> Workload:
        params = count_parameters(self.model)
        return Workload(items_per_step=self.case.items_per_step, unit=self.spec.unit,
                        params_trainable=params.trainable, params_total=params.total,
                        optimizer=self.optimizer_name, notes=list(self.notes))

    def close(self) -> None:
        """Release what the step holds outside the process (DataLoader workers)."""
