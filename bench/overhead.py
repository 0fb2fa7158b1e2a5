"""Harness overhead: bench's median step time against a bare loop over the same step.

    python -m bench.overhead --model mlp --batch-size 64 --repeats 3

Both are measured in this process on the same TrainStep, alternated (bench, bare,
bench, bare, ...) so that drift affects both alike. The bare loop is what a person
would write: perf_counter around N steps, synchronised at the ends.
"""

from __future__ import annotations

import statistics
import time

from bench.cases import Case, ConfigError, validate_axes
from bench.config import SUITE_DEFS
from bench.measure import CaseRun
from bench.timing import measure_rounds
from envcheck.cli import OneLineParser, UsageError, exit_usage


def bare_step_s(step, synchronize, steps: int) -> float:
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return (time.perf_counter() - start) / steps


def compare(case: Case, repeats: int) -> dict[str, float]:
    rules = SUITE_DEFS["quick"].timing
    run = CaseRun(case, rules)
    steps = run.prepare()
    synchronize = run.clock.synchronize or (lambda: None)
    harness, bare = [], []
    for _ in range(repeats):
        rounds = measure_rounds(run.step, run.clock, rules, steps)
        harness.append(statistics.median(rounds) / steps)
        bare.append(bare_step_s(run.step, synchronize, steps * rules.rounds))
    return {"harness_step_s": statistics.median(harness), "bare_step_s": statistics.median(bare),
            "ratio": statistics.median(harness) / statistics.median(bare), "steps_per_round": steps}


def main() -> None:
    parser = OneLineParser(prog="python -m bench.overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--backend", default="eager")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    try:
        args = parser.parse_args()
        validate_axes([args.model], None, [args.backend], [args.precision], [args.batch_size])
    except (UsageError, ConfigError) as error:
        exit_usage(parser.prog, error)
    case = Case(args.model, "train", args.backend, args.precision, args.batch_size, args.device)
    result = compare(case, args.repeats)
    print(f"{case.id}: bench {result['harness_step_s'] * 1e3:.4f} ms/step, "
          f"bare loop {result['bare_step_s'] * 1e3:.4f} ms/step, ratio {result['ratio']:.4f} "
          f"(K={result['steps_per_round']})")


if __name__ == "__main__":
    main()
