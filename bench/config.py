"""Every default of the benchmark in one place: axes, suites, timing rules, batch sizes."""

from __future__ import annotations

import dataclasses

MODES = ("train", "finetune")
BACKENDS = ("eager", "compile", "compile-reduce-overhead", "compile-max-autotune")
PRECISIONS = ("fp32", "tf32", "amp-bf16", "amp-fp16")
DEVICES = ("auto", "cpu", "cuda")
SUITES = ("smoke", "quick", "full")
# synthetic-device: a fixed batch on the device (model speed); the others go through a DataLoader
DATA_SOURCES = ("synthetic-device", "mnist", "synthetic-digits")

# Batch sizes per device kind and model; the seed's 64 is always there for the CNN.
DEFAULT_BATCH_SIZES: dict[str, dict[str, tuple[int, ...]]] = {
    "cpu": {"mlp": (64, 256), "cnn": (64, 256), "mlp-large": (64,)},
    "cuda": {"mlp": (64, 4096), "cnn": (64, 4096), "mlp-large": (4096,)},
}


@dataclasses.dataclass(frozen=True)
class TimingRules:
    """How a case is timed (DESIGN.md, measurement rules 2-4)."""

    min_round_s: float = 0.1  # K steps per round so that a round takes at least this
    rounds: int = 5  # at least 5
    warmup_max_s: float = 5.0  # warm up until steady, but never longer than this
    warmup_min_rounds: int = 3
    steady_tolerance: float = 0.03  # last rounds within 3 % of each other = steady
    unstable_cv: float = 0.10  # pyperf: std/mean >= 10 % is unstable
    unstable_spread: float = 0.50  # pyperf: min or max >= 50 % off the mean
    case_timeout_s: float = 600.0


@dataclasses.dataclass(frozen=True)
class Block:
    """One product of axes inside a suite; None means 'the default for the device'."""

    models: tuple[str, ...]
    modes: tuple[str, ...] = MODES
    backends: tuple[str, ...] = ("eager", "compile")
    precisions: tuple[str, ...] = ("fp32", "amp-bf16")
    batch_sizes: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    description: str
    blocks: dict[str, tuple[Block, ...]]  # device kind -> blocks
    timing: TimingRules


SUITE_DEFS: dict[str, Suite] = {
    "smoke": Suite(
        "smoke",
        "CPU-sized: train and finetune, eager and compile, fp32 and amp-bf16 in under a minute (CI)",
        {
            kind: (
                Block(("mlp",), backends=("eager",), batch_sizes=(64,)),
                Block(("mlp",), modes=("train",), backends=("compile",), precisions=("fp32",), batch_sizes=(64,)),
                Block(("cnn",), modes=("train",), backends=("eager",), precisions=("fp32",), batch_sizes=(64,)),
            )
            for kind in ("cpu", "cuda")
        },
        TimingRules(rounds=5, warmup_max_s=1.0, case_timeout_s=180.0),
    ),
    "quick": Suite(
        "quick",
        "the default: every model, both modes, the main backends and precisions of the device",
        {
            "cpu": (
                Block(("mlp", "cnn")),
                Block(("mlp-large",), modes=("train",), backends=("eager",), precisions=("fp32", "amp-bf16")),
            ),
            # Sized to finish in about five minutes on an H200, compiles included: every
            # backend and precision on the CNN, fewer compiled cases elsewhere.
            "cuda": (
                Block(("cnn",), modes=("train",), backends=("eager",), precisions=PRECISIONS, batch_sizes=(64, 4096)),
                Block(("cnn",), modes=("train",), backends=("compile",), precisions=("fp32", "amp-bf16"),
                      batch_sizes=(64, 4096)),
                Block(("cnn",), modes=("train",), backends=("compile-reduce-overhead",),
                      precisions=("fp32", "amp-bf16"), batch_sizes=(64,)),
                Block(("cnn",), modes=("finetune",), backends=("eager", "compile"), precisions=("amp-bf16",),
                      batch_sizes=(4096,)),
                Block(("mlp",), backends=("eager",), precisions=("fp32", "amp-bf16"), batch_sizes=(4096,)),
                Block(("mlp",), modes=("train",), backends=("compile",), precisions=("amp-bf16",), batch_sizes=(4096,)),
                Block(("mlp-large",), modes=("train",), backends=("eager",), precisions=("tf32", "amp-bf16")),
                Block(("mlp-large",), modes=("train",), backends=("compile",), precisions=("amp-bf16",)),
            ),
        },
        TimingRules(rounds=5, warmup_max_s=3.0, case_timeout_s=600.0),
    ),
    "full": Suite(
        "full",
        "every backend (max-autotune too) and precision, more rounds",
        {
            kind: (Block(("mlp", "cnn", "mlp-large"), backends=BACKENDS, precisions=PRECISIONS),)
            for kind in ("cpu", "cuda")
        },
        TimingRules(rounds=15, warmup_max_s=10.0, case_timeout_s=900.0),
    ),
}

# Matrix size of the matmul that measures the device's ceiling, per device kind.
CEILING_MATMUL_SIZE = {"cpu": 1024, "cuda": 8192}
LEARNING_RATE = 1e-3  # Adam, as in the seed article
# `validate` calls a case degraded when it is significantly slower than the baseline by more than
# this. A warm H200 is steady within 0.5 % (DESIGN.md); this 2-core shared CPU VM drifted 17-36 %
# between two quick-suite runs 45 minutes apart, which the within-run test cannot see.
VALIDATE_FAIL_ABOVE_PCT = {"cuda": 10.0, "cpu": 40.0}
DEFAULT_OUT = "results"
