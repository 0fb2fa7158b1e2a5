"""`python -m bench`: run the benchmark suite and write a report.

Exit codes: 0 every case ok or skipped; 1 a case failed, ran out of memory,
timed out or crashed; 2 bad usage (one line, nothing written); 130 interrupted
(the report of the finished cases is still written).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from bench import config
from bench.cases import Case, ConfigError, DeviceCaps, expand
from bench.result import CaseResult
from envcheck.cli import EXIT_FAIL, EXIT_OK, OneLineParser, UsageError, exit_usage

EXIT_INTERRUPTED = 130
PROG = "python -m bench"


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in comma_list(text))
    except ValueError:
        raise UsageError(f"--batch-sizes expects comma-separated integers, got {text!r}") from None


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="torchrig benchmarks: train and fine-tune throughput.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="measure the suite and write a JSON report")
    run.add_argument("--suite", choices=config.SUITES, default="quick")
    run.add_argument("--device", choices=config.DEVICES, default="auto")
    run.add_argument("--models", type=comma_list, help="comma list, e.g. mlp,cnn")
    run.add_argument("--modes", type=comma_list, help=f"comma list of {', '.join(config.MODES)}")
    run.add_argument("--backends", type=comma_list, help=f"comma list of {', '.join(config.BACKENDS)}")
    run.add_argument("--precisions", type=comma_list, help=f"comma list of {', '.join(config.PRECISIONS)}")
    run.add_argument("--batch-sizes", type=str, help="comma list of positive integers")
    run.add_argument("--channels-last", action="store_true", help="channels-last memory format for the CNN")
    run.add_argument("--checkpoint", type=Path, help="state dict to fine-tune from (default: a short pre-training)")
    run.add_argument("--rounds", type=int, help="timed rounds per case (at least 5)")
    run.add_argument("--case-timeout", type=float, metavar="SECONDS", help="kill a case after this long")
    run.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT), help="reports go to OUT/<machine-id>/")
    run.add_argument("--list", action="store_true", help="list the cases and exit")
    return parser


def resolve_device(requested: str, facts: dict) -> str:
    torch_facts = facts.get("torch")
    if torch_facts is None:
        raise UsageError(f"torch cannot be imported ({facts.get('torch_error')}); run `python -m envcheck`")
    available = torch_facts["cuda_available"]
    if requested == "cuda" and not available:
        raise UsageError("--device cuda, but no CUDA device is usable here (see `python -m envcheck`); "
                         "expected one of auto, cpu")
    if requested == "auto":
        return "cuda" if available else "cpu"
    return requested


def device_caps(device: str, facts: dict) -> DeviceCaps:
    if device == "cuda" and facts.get("gpus"):
        return DeviceCaps("cuda", tuple(facts["gpus"][0]["capability"]))
    return DeviceCaps(device)


def timing_rules(suite: config.Suite, args) -> config.TimingRules:
    rules = suite.timing
    if args.rounds is not None:
        if args.rounds < 5:
            raise UsageError(f"--rounds must be at least 5, got {args.rounds}")
        rules = dataclasses.replace(rules, rounds=args.rounds)
    if args.case_timeout is not None:
        if args.case_timeout <= 0:
            raise UsageError(f"--case-timeout must be > 0, got {args.case_timeout}")
        rules = dataclasses.replace(rules, case_timeout_s=args.case_timeout)
    return rules


def progress_start(index: int, total: int, case: Case) -> None:
    print(f"[{index:>3}/{total}] {case.id} ...", end="", flush=True)


def progress_result(index: int, total: int, result: CaseResult) -> None:
    if result.status == "ok":
        step = sorted(r / result.steps_per_round for r in result.round_s)[len(result.round_s) // 2]
        text = f" ok {result.case.batch_size / step:,.0f} samples/s"
        if result.compile_s is not None:
            text += f", compile {result.compile_s:.1f} s"
    else:
        text = f" {result.status}: {result.reason}"
    duration = f" ({result.duration_s:.1f} s)" if result.duration_s is not None else ""
    print(text + duration, flush=True)


def command_run(args) -> int:
    from bench.runner import run_cases
    from bench.storage import build_report, report_path, write_report
    from bench.summary import render_summary
    from bench.worker import WorkerSettings
    from envcheck import snapshot

    suite = config.SUITE_DEFS[args.suite]
    rules = timing_rules(suite, args)
    batch_sizes = int_list(args.batch_sizes) if args.batch_sizes else None
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise UsageError(f"--checkpoint {args.checkpoint}: no such file; expected a state dict saved by torch.save")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; expected a directory")
    started = time.perf_counter()
    environment = snapshot()
    facts = environment["facts"]
    device = resolve_device(args.device, facts)
    try:
        cases = expand(suite, device, models=args.models, modes=args.modes, backends=args.backends,
                       precisions=args.precisions, batch_sizes=batch_sizes, channels_last=args.channels_last)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if args.list:
        for case in cases:
            print(case.id)
        return EXIT_OK
    print(f"torchrig bench: suite {suite.name}, {len(cases)} cases on {device}")
    with tempfile.TemporaryDirectory(prefix="torchrig-ckpt-") as checkpoint_dir:
        settings = WorkerSettings(rules, args.checkpoint, Path(checkpoint_dir))
        outcome = run_cases(cases, device_caps(device, facts), settings,
                            on_start=progress_start, on_result=progress_result)
    if outcome.interrupted:
        print("\ninterrupted: writing the report of the cases finished so far", flush=True)
    run_info = {"suite": suite.name, "device": device, "argv": sys.argv[1:], "cases_planned": len(cases),
                "cases_finished": len(outcome.results), "interrupted": outcome.interrupted,
                "wall_s": round(time.perf_counter() - started, 3)}
    report = build_report(outcome.results, environment=environment, device=device, run=run_info,
                          ceilings=outcome.ceilings, rules=rules)
    path = write_report(report, report_path(args.out, report, suite.name))
    render_summary(report)
    print(f"report: {path}")
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    bad = [r for r in outcome.results if r.status not in ("ok", "skipped")]
    return EXIT_FAIL if bad else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return command_run(args)
    except UsageError as error:
        exit_usage(PROG, error)


if __name__ == "__main__":
    sys.exit(main())
