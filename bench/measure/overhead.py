"""Harness overhead: bench's median step time against a bare loop over the same step.

    python -m bench.measure.overhead --model resnet18 --batch-size 16 --repeats 5

Both are measured in this process on the same step, alternated (bench, bare, bench,
bare, ...) so that drift affects both alike. The bare loop is what a person would
write: perf_counter around N steps, synchronised at the ends.
"""

from __future__ import annotations

import statistics
import time

from bench.config import SUITE_DEFS
from bench.measure.jobs import Options
from bench.measure.protocol import prepared_step
from bench.measure.timing import measure_rounds
from bench.results.cases import Case, check_axes
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
    with prepared_step(case, rules, Options()) as (step, clock, prepared):
        steps = prepared.steps
        synchronize = clock.synchronize or (lambda: None)
        harness, bare = [], []
        for _ in range(repeats):
            harness.append(statistics.median(measure_rounds(step, clock, rules, steps)) / steps)
            bare.append(bare_step_s(step, synchronize, steps * rules.rounds))
    return {"harness_step_s": statistics.median(harness), "bare_step_s": statistics.median(bare),
            "ratio": statistics.median(harness) / statistics.median(bare), "steps_per_round": steps,
            "pairs": [h / b for h, b in zip(harness, bare, strict=True)]}


def main() -> None:
    parser = OneLineParser(prog="python -m bench.measure.overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp", help="default mlp")
    parser.add_argument("--mode", default="train", help="default train")
    parser.add_argument("--batch-size", type=int, default=64, help="default 64")
    parser.add_argument("--precision", default="fp32", help="default fp32")
    parser.add_argument("--backend", default="eager", help="default eager")
    parser.add_argument("--repeats", type=int, default=5, help="bench/bare pairs (default 5)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    try:
        args = parser.parse_args()
        errors = check_axes([args.model], [args.mode], [args.backend], [args.precision], [args.batch_size])
        if errors:
            raise UsageError("; ".join(errors))
    except UsageError as error:
        exit_usage(parser.prog, error)
    case = Case(args.model, args.mode, args.backend, args.precision, args.batch_size, args.device)
    result = compare(case, args.repeats)
    print(f"{case.key}: bench {result['harness_step_s'] * 1e3:.4f} ms/step, bare loop "
          f"{result['bare_step_s'] * 1e3:.4f} ms/step, ratio {result['ratio']:.4f} (K={result['steps_per_round']}; "
          f"pairs {', '.join(f'{r:.3f}' for r in result['pairs'])})")


if __name__ == "__main__":
    main()
