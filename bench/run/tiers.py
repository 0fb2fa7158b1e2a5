"""Validation tiers: `bench validate --tier N`, sized to where a fleet runs them.

Tier 0 fits Slurm's HealthCheckProgram (killed after 60 s) and a job prolog, tier 1 a job epilogue (2 min), tier 2
an acceptance run of a new node (15 min). Each is a named list of envcheck checks and one product of bench case
axes with run counts sized to fit its budget on a 2-core VM (measured figures: README, "Fleet validation"); on a
GPU node the same cases finish sooner. Options given beside --tier (--runs, --rounds, --models, ...) replace the
tier's, so that a test or an operator can shrink or widen one without a new tier. Exit codes stay validate's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# envcheck checks that need neither a compile nor a subprocess pool: seconds, not minutes
FAST_CHECKS = ("python", "torch", "cuda", "precision", "nvml", "machine load", "autograd")


@dataclasses.dataclass(frozen=True)
class Tier:
    number: int
    purpose: str
    budget_s: float  # the wall time the whole `validate --tier N` must fit in, torch import included
    checks: tuple[str, ...] | None  # envcheck checks by name (None: every check)
    suite: str  # timing rules and default runs come from this suite, the cases from the axes below
    models: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    batch_sizes: tuple[int, ...] | None = None
    runs: int | None = None
    rounds: int | None = None
    min_round_s: float | None = None
    warmup_max_s: float | None = None
    case_timeout_s: float | None = None
    # hardware micro-benchmarks it runs besides its model cases, as `--micro` names (NAME or NAME:SIZE; a name
    # alone takes the device's default size, config.MICRO_DEFAULTS), with the tier's runs
    micro: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.number < 0 or self.budget_s <= 0:
            raise ValueError(f"tier {self.number}: a tier needs a number >= 0 and a positive budget")
        if self.checks is not None and not self.checks:
            raise ValueError(f"tier {self.number}: an empty check list; pass None for every check")

    def case_options(self) -> dict[str, Any]:
        """The request fields this tier sets (InvocationRequest's names); None fields keep the suite's."""
        names = ("models", "modes", "backends", "precisions", "batch_sizes", "runs", "rounds", "min_round_s",
                 "warmup_max_s", "case_timeout_s", "micro")
        return {"suite": self.suite, **{name: getattr(self, name) for name in names if getattr(self, name) is not None}}

    def fill(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` (parsed validate arguments, InvocationRequest's names) with the tier's values wherever the
        user gave none; the suite is always the tier's."""
        filled = dict(options)
        for name, value in self.case_options().items():
            if name == "suite" or filled.get(name) is None:
                filled[name] = value
        return filled


TIERS: dict[int, Tier] = {
    0: Tier(0, "Slurm HealthCheckProgram or a job prolog (killed after 60 s)", 60.0, FAST_CHECKS, "smoke",
            models=("mlp",), modes=("train",), backends=("eager",), precisions=("fp32",), batch_sizes=(64,),
            runs=3, rounds=5, min_round_s=0.05, warmup_max_s=0.5, case_timeout_s=40.0,
            micro=("sdc-matmul:2",)),  # what fits beside torch's import: the silent-corruption check
    1: Tier(1, "a job epilogue (2 min)", 120.0, FAST_CHECKS + ("amp", "sdpa", "dataloader"), "smoke",
            models=("mlp", "cnn"), modes=("train", "finetune"), backends=("eager",), precisions=("fp32",),
            batch_sizes=(64,), runs=3, rounds=5, min_round_s=0.05, warmup_max_s=0.5, case_timeout_s=60.0,
            micro=("launch", "mem-copy", "h2d-pinned", "d2h-pinned", "sdc-matmul:5")),
    2: Tier(2, "acceptance of a new node (15 min)", 900.0, None, "quick", runs=3,
            micro=("launch", "mem-copy", "mem-triad", "h2d-pinned", "h2d-pageable", "d2h-pinned", "d2h-pageable",
                   "peer-copy", "allreduce", "sdc-matmul:30")),
}


class TierError(ValueError):
    """A tier number this torchrig does not define."""


def tier(number: int) -> Tier:
    try:
        return TIERS[number]
    except KeyError:
        raise TierError(f"--tier {number}: no such tier; expected one of {', '.join(map(str, TIERS))}") from None
