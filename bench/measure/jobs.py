"""What the parent asks a worker to do: the jobs it writes as JSON and a fresh worker process reads
(`python -m bench.measure.worker REQUEST RESULT`). Torch-free: both sides import it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.config import TimingRules
from bench.results.cases import Case
from models.llm import DEFAULT_LORA_RANK, DEFAULT_LORA_TARGETS


@dataclasses.dataclass(frozen=True)
class Options:
    """How the worker was asked to build the case (from the run request)."""

    checkpoint: Path | None = None  # fine-tune from this state dict (else checkpoint_dir/<model>.pt)
    checkpoint_dir: Path | None = None
    lora_rank: int = DEFAULT_LORA_RANK
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    data_dir: Path | None = None  # MNIST, for end-to-end cases
    loader_workers: int = 0


@dataclasses.dataclass(frozen=True)
class CaseJob:
    case: Case
    rules: TimingRules
    index: int
    options: Options
    cache_dir: str | None = None  # this case's inductor cache: empty at its first run (cold), then warm


@dataclasses.dataclass(frozen=True)
class CeilingJob:
    device: str
    precisions: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class WorkerRequest:
    kind: str  # case, ceilings, snapshot
    case: CaseJob | None = None
    ceilings: CeilingJob | None = None
