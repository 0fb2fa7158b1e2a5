"""The plain record of one case, passed from the worker to the report (no torch here)."""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.cases import Case

STATUSES = ("ok", "skipped", "failed", "oom", "timeout", "crashed")


@dataclasses.dataclass
class CaseResult:
    case: Case
    status: str
    reason: str | None = None
    duration_s: float | None = None  # wall time of the whole case, compile included
    compile_s: float | None = None  # the first call of a compiled model
    compile_cache: dict[str, int] | None = None  # inductor FX-graph cache hits/misses
    warmup_rounds: int | None = None
    warmup_s: float | None = None
    warmup_steady: bool | None = None
    steps_per_round: int | None = None
    round_s: list[float] = dataclasses.field(default_factory=list)  # raw round times
    flops_per_step: int | None = None
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None  # cuda_max_allocated or rss
    loss_start: float | None = None
    loss_end: float | None = None
    params_trainable: int | None = None
    params_total: int | None = None
    grad_scaler_syncs: bool = False  # amp-fp16: GradScaler.step reads found_inf on the host
    distributed: dict[str, Any] | None = None  # world size, per-rank and global samples/s, scaling

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["case"] = self.case.identity()
        return data
