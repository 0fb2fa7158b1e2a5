"""`python -m bench`: run, compare, summarise, report and validate.

run       exit 0 every case ok or skipped; 1 a case failed, ran out of memory,
          timed out or crashed; 130 interrupted (the finished cases are written)
compare   exit 1 when --fail-above trips on a significant regression
validate  exit 0 healthy (or no baseline yet), 1 broken, 3 degraded
all       exit 2 on bad input: one line, no traceback, nothing overwritten
"""

from __future__ import annotations

import dataclasses
import statistics
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
    add_data_options(run)
    run.add_argument("--workers", type=int, default=None, help="DataLoader workers of end-to-end cases")
    scale = run.add_argument_group("data-parallel (torchrun + DistributedDataParallel)")
    scale.add_argument("--nproc-per-node", type=int, help="processes per node; runs the cases under torchrun")
    scale.add_argument("--nnodes", type=int, default=1)
    scale.add_argument("--node-rank", type=int, default=0)
    scale.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="rendezvous of a multi-node run")
    run.add_argument("--label", help="name of this run in merged summaries (default: machine and torch)")
    run.add_argument("--list", action="store_true", help="list the cases and exit")

    compare = commands.add_parser("compare", help="compare reports case by case, with significance")
    compare.add_argument("base", type=Path)
    compare.add_argument("new", type=Path, nargs="+")
    compare.add_argument("--fail-above", type=float, metavar="PCT",
                         help="exit 1 when a significant regression exceeds PCT percent")
    compare.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")

    summary = commands.add_parser("summary", help="one table of cases x reports (samples/s, ratio to the first)")
    summary.add_argument("files", type=Path, nargs="+")

    report = commands.add_parser("report", help="Markdown, PNG plots and an HTML page from many reports")
    report.add_argument("files", type=Path, nargs="+")
    report.add_argument("--out", type=Path, required=True)

    tta = commands.add_parser("tta", help="time to accuracy: train and fine-tune the CNN to a target")
    add_data_options(tta, default="synthetic-digits")
    tta.add_argument("--device", choices=config.DEVICES, default="auto")
    tta.add_argument("--recipes", type=comma_list, default=("seed", "tuned"), help="comma list of seed, tuned")
    tta.add_argument("--target", type=float, default=99.0, help="test accuracy %% to reach (default 99.0)")
    tta.add_argument("--finetune-target", type=float, default=98.0,
                     help="accuracy %% for pre-training on 0-4 and fine-tuning on 5-9 (default 98.0)")
    tta.add_argument("--workers", type=int, default=None)
    tta.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT))

    validate = commands.add_parser("validate", help="envcheck + a suite + compare against this hardware's baseline")
    validate.add_argument("--suite", choices=config.SUITES, default="quick")
    validate.add_argument("--device", choices=config.DEVICES, default="auto")
    validate.add_argument("--baseline", type=Path, help="default: results/baselines/<device-name>.json")
    validate.add_argument("--fail-above", type=float, metavar="PCT",
                          help="a significant slowdown beyond PCT percent is degraded "
                               "(default: 10 on CUDA, 40 on a CPU, see bench/config.py)")
    validate.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT))
    return parser


def add_data_options(parser, default: str = "synthetic-device") -> None:
    parser.add_argument("--data", choices=config.DATA_SOURCES, default=default,
                        help="synthetic-device: a fixed batch on the device (model speed); mnist or "
                             "synthetic-digits: through a DataLoader (end to end)")
    parser.add_argument("--data-dir", type=Path, help="folder holding MNIST/raw (for --data mnist)")
    parser.add_argument("--download", action="store_true", help="fetch MNIST if it is missing (off by default)")


def check_data(args):
    """(train, test) of the data asked for, loaded here so that a data problem is one line and exit 2."""
    from bench.data import DataError, dataset

    if getattr(args, "data", "synthetic-device") == "synthetic-device":
        return None
    if args.workers is not None and args.workers < 0:
        raise UsageError(f"--workers must be >= 0, got {args.workers}")
    try:
        return (dataset(args.data, args.data_dir, train=True, download=args.download),
                dataset(args.data, args.data_dir, train=False, download=args.download))
    except DataError as error:
        raise UsageError(str(error)) from None


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
    if getattr(args, "rounds", None) is not None:
        if args.rounds < 5:
            raise UsageError(f"--rounds must be at least 5, got {args.rounds}")
        rules = dataclasses.replace(rules, rounds=args.rounds)
    if getattr(args, "case_timeout", None) is not None:
        if args.case_timeout <= 0:
            raise UsageError(f"--case-timeout must be > 0, got {args.case_timeout}")
        rules = dataclasses.replace(rules, case_timeout_s=args.case_timeout)
    return rules


def progress_start(index: int, total: int, case: Case) -> None:
    print(f"[{index:>3}/{total}] {case.id} ...", end="", flush=True)


def progress_result(index: int, total: int, result: CaseResult) -> None:
    if result.status == "ok":
        step = statistics.median(result.round_s) / result.steps_per_round
        text = f" ok {result.case.batch_size / step:,.0f} samples/s"
        if result.compile_s is not None:
            text += f", compile {result.compile_s:.1f} s"
    else:
        text = f" {result.status}: {result.reason}"
    duration = f" ({result.duration_s:.1f} s)" if result.duration_s is not None else ""
    print(text + duration, flush=True)


def run_suite(args, suite_name: str, device_request: str, out: Path, label: str | None = None):
    """Measure a suite and write its report; returns (report, path, outcome) or None for --list."""
    from bench.runner import run_cases
    from bench.storage import build_report, report_path, write_report
    from bench.worker import WorkerSettings
    from envcheck import snapshot

    suite = config.SUITE_DEFS[suite_name]
    rules = timing_rules(suite, args)
    batch_sizes = int_list(args.batch_sizes) if getattr(args, "batch_sizes", None) else None
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint is not None and not checkpoint.is_file():
        raise UsageError(f"--checkpoint {checkpoint}: no such file; expected a state dict saved by torch.save")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; expected a directory")
    launch = launch_of(args)
    started = time.perf_counter()
    check_data(args)
    environment = snapshot()
    facts = environment["facts"]
    device = resolve_device(device_request, facts)
    try:
        cases = expand(suite, device, models=getattr(args, "models", None), modes=getattr(args, "modes", None),
                       backends=getattr(args, "backends", None), precisions=getattr(args, "precisions", None),
                       batch_sizes=batch_sizes, channels_last=getattr(args, "channels_last", False),
                       data=getattr(args, "data", "synthetic-device"))
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if getattr(args, "list", False):
        for case in cases:
            print(case.id)
        return None
    print(f"torchrig bench: suite {suite.name}, {len(cases)} cases on {device}", flush=True)
    collectives = None
    with tempfile.TemporaryDirectory(prefix="torchrig-ckpt-") as checkpoint_dir:
        settings = WorkerSettings(rules, checkpoint, Path(checkpoint_dir), getattr(args, "data_dir", None),
                                  workers_for(args))
        outcome = run_cases(cases, device_caps(device, facts), settings,
                            on_start=progress_start, on_result=progress_result)
        if launch is not None and not outcome.interrupted:
            outcome, collectives = run_data_parallel(cases, outcome, launch, rules, Path(checkpoint_dir))
            if launch.node_rank != 0:
                print(f"node {launch.node_rank}: done; node 0 writes the report")
                return None
    if outcome.interrupted:
        print("\ninterrupted: writing the report of the cases finished so far", flush=True)
    run_info = {"suite": suite.name, "device": device, "label": label, "argv": sys.argv[1:],
                "cases_planned": len(cases), "cases_finished": len(outcome.results),
                "interrupted": outcome.interrupted, "wall_s": round(time.perf_counter() - started, 3)}
    if launch is not None:
        run_info["distributed"] = dataclasses.asdict(launch)
    report = build_report(outcome.results, environment=environment, device=device, run=run_info,
                          ceilings=outcome.ceilings, rules=rules, collectives=collectives)
    path = write_report(report, report_path(out, report, suite.name))
    return report, path, outcome


def launch_of(args):
    """The torchrun launch asked for, or None for an ordinary run."""
    from bench.distributed import Launch, check_launch

    if getattr(args, "nproc_per_node", None) is None:
        if getattr(args, "nnodes", 1) != 1 or getattr(args, "rdzv_endpoint", None):
            raise UsageError("--nnodes and --rdzv-endpoint need --nproc-per-node")
        return None
    launch = Launch(args.nproc_per_node, args.nnodes, args.node_rank, args.rdzv_endpoint)
    errors = check_launch(launch)
    if errors:
        raise UsageError("; ".join(errors))
    return launch


def run_data_parallel(cases, single, launch, rules, work_dir: Path):
    """Measure the cases under torchrun; ``single`` (one process) is the scaling reference."""
    from bench.distributed import LaunchSpec, allreduce_rows, distributed_results
    from bench.distributed import launch as torchrun
    from bench.runner import RunOutcome
    from bench.storage import derived_metrics

    measured = {r.case.id: derived_metrics(r, {}, rules).get("samples_per_s") for r in single.results
                if r.status == "ok"}
    runnable = [c for c in cases if c.id in measured]
    timeout = rules.case_timeout_s * max(len(runnable), 1) + 120
    (work_dir / "errors").mkdir(exist_ok=True)
    spec = LaunchSpec(cases=[dataclasses.asdict(c) for c in runnable], rules=dataclasses.asdict(rules),
                      results_file=str(work_dir / "results.jsonl"), errors_dir=str(work_dir / "errors"),
                      checkpoint_dir=str(work_dir / "ddp-checkpoints"), timeout_s=min(rules.case_timeout_s, 600))
    print(f"torchrun: {len(runnable)} cases on {launch.nproc_per_node} process(es) x {launch.nnodes} node(s) ...",
          flush=True)
    outcome = torchrun(spec, launch, work_dir, timeout)
    results = distributed_results(runnable, outcome, measured, timeout)
    for index, result in enumerate(results, 1):
        progress_start(index, len(results), result.case)
        progress_result(index, len(results), result)
    others = [r for r in single.results if r.case.id not in measured]  # skipped or failed alone
    collectives = {"allreduce": allreduce_rows(outcome), "torchrun_exit": outcome.returncode,
                   "torchrun_s": round(outcome.seconds, 3)}
    return RunOutcome(others + results, single.ceilings, False), collectives


def workers_for(args) -> int:
    from bench.data import default_workers

    given = getattr(args, "workers", None)
    return default_workers() if given is None else given


def failed_cases(outcome) -> list[CaseResult]:
    return [r for r in outcome.results if r.status not in ("ok", "skipped")]


def command_run(args) -> int:
    from bench.summary import render_distributed, render_summary

    ran = run_suite(args, args.suite, args.device, args.out, args.label)
    if ran is None:
        return EXIT_OK
    report, path, outcome = ran
    render_summary(report)
    render_distributed(report)
    print(f"report: {path}")
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAIL if failed_cases(outcome) else EXIT_OK


def load_reports(paths: list[Path]):
    from bench.merge import load_labelled
    from bench.storage import ReportError

    try:
        return load_labelled(paths)
    except ReportError as error:
        raise UsageError(str(error)) from None


def command_compare(args) -> int:
    from bench.compare import compare_reports
    from bench.summary import render_comparison

    if args.fail_above is not None and args.fail_above < 0:
        raise UsageError(f"--fail-above must be >= 0, got {args.fail_above}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    base, *news = load_reports([args.base, *args.new])
    exit_code = EXIT_OK
    for new in news:
        comparison = compare_reports(base.report, new.report, base_name=str(base.path), new_name=str(new.path),
                                     alpha=args.alpha)
        render_comparison(comparison)
        if args.fail_above is not None:
            regressions = comparison.regressions(args.fail_above)
            if regressions:
                worst = ", ".join(f"{r.label} {r.change_pct:+.1f}%" for r in regressions)
                print(f"compare: FAIL: {len(regressions)} significant regression(s) beyond "
                      f"{args.fail_above:g}%: {worst}")
                exit_code = EXIT_FAIL
    return exit_code


def command_summary(args) -> int:
    from bench.summary import render_merged

    render_merged(load_reports(args.files))
    return EXIT_OK


def command_report(args) -> int:
    from bench.plots import write_report_dir

    labelled = load_reports(args.files)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; expected a directory")
    try:
        written = write_report_dir(labelled, args.out)
    except RuntimeError as error:  # matplotlib missing
        raise UsageError(str(error)) from None
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def command_validate(args) -> int:
    from bench.validate import validate

    if args.fail_above is not None and args.fail_above < 0:
        raise UsageError(f"--fail-above must be >= 0, got {args.fail_above}")
    if args.baseline is not None and not args.baseline.is_file():
        raise UsageError(f"--baseline {args.baseline}: no such file")
    return validate(args, run_suite)


def command_tta(args) -> int:
    from bench.storage import machine_id, now_iso, write_report
    from bench.summary import render_tta
    from bench.tta import SEED, run_recipe, tuned
    from envcheck import snapshot

    unknown = [name for name in args.recipes if name not in ("seed", "tuned")]
    if unknown:
        raise UsageError(f"unknown recipe {unknown[0]!r} (expected seed, tuned)")
    for name, value in (("--target", args.target), ("--finetune-target", args.finetune_target)):
        if not 0 < value <= 100:
            raise UsageError(f"{name} must be a percentage in (0, 100], got {value}")
    if args.data == "synthetic-device":
        raise UsageError("tta needs real samples: --data mnist or synthetic-digits")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; expected a directory")
    train, test = check_data(args)
    environment = snapshot()
    device = resolve_device(args.device, environment["facts"])
    recipes = {"seed": SEED, "tuned": tuned(device)}
    results = []
    for name in args.recipes:
        print(f"tta: recipe {name} on {device} ({args.data}) ...", flush=True)
        results.append(run_recipe(recipes[name], train, test, target=args.target,
                                  finetune_target=args.finetune_target, device=device, workers=workers_for(args)))
    document = {"schema_version": 1, "torchrig": {"tool": "torchrig.tta"}, "datetime": now_iso(),
                "data": args.data, "device": device, "target": args.target,
                "finetune_target": args.finetune_target, "environment": environment, "recipes": results}
    path = write_report(document, Path(args.out) / machine_id(environment["facts"], device)
                        / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-tta.json")
    render_tta(document)
    print(f"report: {path}")
    return EXIT_OK


COMMANDS = {"run": command_run, "compare": command_compare, "summary": command_summary,
            "report": command_report, "validate": command_validate, "tta": command_tta}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as error:
        exit_usage(PROG, error)
    except ModuleNotFoundError as error:  # an environment without the project's dependencies
        exit_usage(PROG, UsageError(f"missing package {error.name!r}: install torchrig's dependencies "
                                    "(pip install -e .) or run `python -m envcheck`"))


if __name__ == "__main__":
    sys.exit(main())
