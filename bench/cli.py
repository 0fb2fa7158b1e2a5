"""The command line of `python -m bench`: argparse only. Every flag says its default and unit;
bad values are one-line usage errors (exit 2) before anything is imported or measured."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench import config
from envcheck.cli import OneLineParser
from models.llm import DEFAULT_LORA_RANK, DEFAULT_LORA_TARGETS

PROG = "python -m bench"


def comma_list(text: str) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'); '' and ',,' give () (refused later as empty, never 'all'); an empty item
    between others ('1,,2', 'a,') is a typo, refused."""
    parts = [part.strip() for part in text.split(",")]
    if any(parts) and not all(parts):
        raise argparse.ArgumentTypeError(f"empty item in {text!r}; expected a comma list without gaps")
    return tuple(part for part in parts if part)


def int_list(text: str) -> tuple[int, ...]:
    parts = comma_list(text)
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def ceilings(text: str) -> tuple[tuple[str, float], ...]:
    pairs = []
    for item in comma_list(text):
        name, _, value = item.partition("=")
        pairs.append((name, finite(value)))
    return tuple(pairs)


def add_run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--suite", choices=config.SUITES, default="quick",
                     help="case set and timing rules (default quick; smoke is CPU-sized, full has every axis)")
    run.add_argument("--device", choices=config.DEVICES, default="auto", help="default auto: cuda if usable, else cpu")
    run.add_argument("--runs", type=int, metavar="N",
                     help="fresh processes per case (default per suite: smoke 5, quick 5, full 8)")
    run.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT),
                     help="reports go to OUT/<machine-id>/ (default results)")
    run.add_argument("--until-decided", action="store_true",
                     help="after the planned runs, add interleaved runs to undecided cases (closest to a decision "
                          "first) until each is decided or --budget is spent (run: two --setup; validate: against "
                          "the baseline)")
    run.add_argument("--budget", type=finite, metavar="MINUTES", default=config.UNTIL_DECIDED_BUDGET_MIN,
                     help=f"minutes of added runs for --until-decided (default {config.UNTIL_DECIDED_BUDGET_MIN:g})")


def add_db_options(parser: argparse.ArgumentParser, *, writes: bool = True) -> None:
    parser.add_argument("--db", metavar="URL",
                        help=f"results database: a SQLite file or postgresql://USER@HOST/DB (default ${config.DB_ENV} "
                             f"if set, else {config.DB_DEFAULT})")
    if writes:
        parser.add_argument("--no-db", action="store_true", help="do not record the report(s) in the database")


def add_case_options(run: argparse.ArgumentParser) -> None:
    axes = run.add_argument_group("cases (a given axis replaces the suite's)")
    axes.add_argument("--models", type=comma_list, help="comma list, e.g. mlp,cnn,resnet18,llm-tiny")
    axes.add_argument("--modes", type=comma_list, help=f"comma list of {', '.join(config.MODES)}")
    axes.add_argument("--backends", type=comma_list, help=f"comma list of {', '.join(config.BACKENDS)}")
    axes.add_argument("--precisions", type=comma_list,
                      help=f"comma list of {', '.join(config.PRECISIONS)} (given: emulated ones run, flagged)")
    axes.add_argument("--batch-sizes", type=int_list, help="comma list of positive integers (default per model)")
    axes.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                      help="channels-last memory format for convolutional models (default: on for ResNets on CUDA)")
    axes.add_argument("--checkpoint", type=Path, help="state dict to fine-tune from (default: a short pre-training)")
    axes.add_argument("--lora-rank", type=int, default=DEFAULT_LORA_RANK,
                      help=f"LoRA rank of finetune-lora cases (default {DEFAULT_LORA_RANK})")
    axes.add_argument("--lora-targets", type=comma_list, default=DEFAULT_LORA_TARGETS,
                      help=f"modules that get LoRA adapters (default the attention projections "
                           f"{','.join(DEFAULT_LORA_TARGETS)})")
    axes.add_argument("--micro", type=comma_list, metavar="NAME[:SIZE],...",
                      help="hardware micro-benchmarks besides the cases (`bench micro --help` lists them)")
    timing = run.add_argument_group("timing (default: the suite's rules)")
    timing.add_argument("--rounds", type=int, help="timed rounds per run (at least 5; default 5, full 15)")
    timing.add_argument("--min-round-s", type=finite, metavar="SECONDS", help="K steps per round so that a "
                        "round lasts at least this (default 0.1 s)")
    timing.add_argument("--warmup-max-s", type=finite, metavar="SECONDS",
                        help="warm up until steady but at most this long (default 1 s; full 10 s)")
    timing.add_argument("--case-timeout", type=finite, metavar="SECONDS",
                        help="kill a run of a case after this long, start-up and compile included "
                             "(default 180 s smoke, 600 s quick, 900 s full)")
    timing.add_argument("--ceilings", type=ceilings, default=(), metavar="PRECISION=TFLOPS,...",
                        help="matmul ceilings for MFU instead of measuring them (e.g. a datasheet's peak)")


def add_data_options(parser: argparse.ArgumentParser, default: str = "synthetic-device") -> None:
    parser.add_argument("--data", choices=config.DATA_SOURCES, default=default,
                        help=f"default {default}; synthetic-device: a fixed batch on the device (model speed); "
                             "mnist or synthetic-digits: through a DataLoader (end to end)")
    parser.add_argument("--data-dir", type=Path, help="folder holding MNIST/raw (for --data mnist)")
    parser.add_argument("--download", action="store_true", help="fetch MNIST if it is missing (off by default)")
    parser.add_argument("--loader-workers", type=int, default=None,
                        help="DataLoader worker processes of end-to-end cases (default: cores - 1, at most 4)")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description="torchrig benchmarks: train, fine-tune and inference throughput.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = commands.add_parser("run", help="measure a suite and write a JSON report (one per setup)")
    add_run_options(run)
    add_case_options(run)
    add_data_options(run)
    run.add_argument("--label", help="name of this run in merged tables (default: machine and torch version)")
    run.add_argument("--setup", action="append", default=[], metavar="LABEL=PYTHON[,VAR=VALUE...]",
                     help="measure this interpreter (and environment) too; two or more setups run interleaved, "
                          "A B A B, with one report each (PYTHON 'python' is this interpreter)")
    run.add_argument("--resume", type=Path, metavar="JOURNAL",
                     help="finish an interrupted run from its journal (OUT/*.journal) and write its report(s)")
    run.add_argument("--list", action="store_true", help="list the cases and exit")
    add_db_options(run)
    run.add_argument("--fail-above", type=finite, metavar="PCT",
                     help="the threshold --until-decided decides at, as compare's (default: slower by more than "
                          "1 %%, same within 5 %%)")
    scale = run.add_argument_group("data-parallel (torchrun + DistributedDataParallel)")
    scale.add_argument("--nproc-per-node", type=int, help="processes per node; adds a DDP case for each case")
    scale.add_argument("--nnodes", type=int, default=1, help="nodes (default 1)")
    scale.add_argument("--node-rank", type=int, default=0, help="this node's rank (default 0)")
    scale.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="rendezvous of a multi-node run")
    scale.add_argument("--oversubscribe", action="store_true",
                       help="allow more ranks per node than it has cores (CPU) or GPUs (CUDA); refused otherwise")

    compare = commands.add_parser("compare", help="compare reports case by case, at the level of runs")
    compare.add_argument("base", type=Path, help="a report, or a baseline folder of several (with "
                         "--baseline-from-history: the first report to judge)")
    compare.add_argument("new", type=Path, nargs="*", help="one or more reports")
    compare.add_argument("--baseline-from-history", type=int, nargs="?", const=config.HISTORY_BASELINE_INVOCATIONS,
                         metavar="N", help="judge the reports against the last N invocations (default "
                         f"{config.HISTORY_BASELINE_INVOCATIONS}) on their hardware in the results database, reaching "
                         f"back further until they span {config.MIN_BASELINE_SITTINGS} sittings")
    add_db_options(compare, writes=False)
    compare.add_argument("--fail-above", type=finite, metavar="PCT",
                         help="exit 1 when a case is significantly slower by more than PCT percent (a CI gate); "
                              "also the +-margin inside which a case is 'same' (default 5)")
    compare.add_argument("--alpha", type=finite, default=config.ALPHA,
                         help=f"family-wise error over all cases, Holm (default {config.ALPHA})")
    compare.add_argument("--allow-undecided", action="store_true",
                         help="exit 0 instead of 4 when a case is inconclusive or noisy and none is slower")
    compare.add_argument("--baselines", type=Path, help="baseline sets by fingerprint, whose spread between "
                         "invocations is counted when two separate runs are compared (default: the repository's)")

    summary = commands.add_parser("summary", help="one table of cases x reports, ratios with intervals")
    summary.add_argument("files", type=Path, nargs="+")

    report = commands.add_parser("report", help="Markdown, PNG plots and an HTML page from many reports")
    report.add_argument("files", type=Path, nargs="+")
    report.add_argument("--out", type=Path, required=True, help="folder for summary.md, index.html and the plots")

    tta = commands.add_parser("tta", help="time to accuracy: train and fine-tune the CNN to a target")
    add_data_options(tta, default="synthetic-digits")
    tta.add_argument("--device", choices=config.DEVICES, default="auto", help="default auto")
    tta.add_argument("--recipes", type=comma_list, default=("seed", "tuned"), help="comma list of seed, tuned")
    tta.add_argument("--target", type=finite, default=99.0, help="test accuracy in %% to reach (default 99.0)")
    tta.add_argument("--finetune-target", type=finite, default=98.0,
                     help="accuracy in %% for pre-training on 0-4 and fine-tuning on 5-9 (default 98.0)")
    tta.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT), help="default results")

    validate = commands.add_parser("validate", help="envcheck + a suite + compare against this hardware's baseline")
    add_run_options(validate)
    add_case_options(validate)
    validate.add_argument("--baseline", type=Path, help="a report or baseline folder (default: this hardware's "
                                                        "fingerprint under --baselines)")
    validate.add_argument("--baselines", type=Path, help="baseline sets by fingerprint (default: the repository's "
                                                         "results/baselines)")
    validate.add_argument("--fail-above", type=finite, metavar="PCT",
                          help="a case significantly slower beyond PCT percent is degraded (default 5 on CUDA, "
                               "10 on a CPU)")
    validate.add_argument("--record", action="store_true",
                          help="add this run to the baseline for this hardware (when healthy, or to start one)")
    validate.add_argument("--allow-undecided", action="store_true",
                          help="exit 0 instead of 4 when the verdict is inconclusive")
    validate.add_argument("--junit-xml", type=Path, metavar="PATH", help="also write JUnit XML for CI systems")
    validate.add_argument("--tier", type=int, metavar="N", help="a named check and case list sized to a time "
                          "budget (0: <= 60 s, a Slurm health check; 1: <= 2 min; 2: <= 15 min; bench/run/tiers.py); "
                          "case and timing options given replace the tier's")
    add_db_options(validate)

    add_micro_parser(commands)

    history = commands.add_parser("history", help="a case's (or a machine's) series from the results database")
    history.add_argument("case", nargs="?", help="a case key, e.g. mlp-train-eager-fp32-bs64-cpu (see run --list)")
    history.add_argument("--machine", metavar="FINGERPRINT", help="only this hardware fingerprint (alone: every case)")
    history.add_argument("--since", type=iso_date, metavar="DATE", help="invocations started on or after this "
                         "ISO date or time (UTC)")
    history.add_argument("--changes", action="store_true", help="list the change points of each series instead")
    history.add_argument("--plot", type=Path, metavar="FILE.png",
                         help=f"also draw each series (the first {config.HISTORY_PLOT_MAX_SERIES}) into this PNG: log "
                              "median step times with their runs' spread, change points and software changes "
                              "marked; needs matplotlib (pip install 'torchrig[plot]')")
    add_db_options(history, writes=False)

    db = commands.add_parser("db", help="the results database: import, export, upgrade")
    actions = db.add_subparsers(dest="db_command", required=True, parser_class=OneLineParser)
    load = actions.add_parser("import", help="store reports and envcheck JSON files (folders too); idempotent")
    load.add_argument("paths", type=Path, nargs="+")
    add_db_options(load, writes=False)
    dump = actions.add_parser("export", help="write every stored report back out as report JSON")
    dump.add_argument("--out", type=Path, required=True, help="folder: OUT/<machine-id>/<key>.json")
    add_db_options(dump, writes=False)
    upgrade = actions.add_parser("upgrade", help="migrate the database's schema to this torchrig's")
    add_db_options(upgrade, writes=False)
    add_fleet_parser(commands)

    publish = commands.add_parser("publish", help="a static results site from the results database (offline, "
                                                  "incremental): overview, cases, nodes, fleet heat map, comparisons")
    add_db_options(publish, writes=False)
    publish.add_argument("--out", type=Path, required=True, help="the site's folder (new, empty, or published "
                         "before); serve it with `python -m http.server -d OUT` or open OUT/index.html")
    publish.add_argument("--force", action="store_true", help="render every page again, even those whose inputs "
                         "did not change")
    return parser


def add_micro_parser(commands) -> None:
    """`bench micro`: the micro suite (bench/results/micro.py), run and recorded as `bench run` runs a suite."""
    from bench.results.micro import CATALOGUE

    micro = commands.add_parser("micro", help="hardware micro-benchmarks: memory and host-device bandwidth, launch "
                                "latency, peer copy, all-reduce busbw, silent data corruption")
    micro.add_argument("--device", choices=config.DEVICES, default="auto",
                       help="default auto: cuda if usable, else cpu")
    micro.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT),
                       help="the report goes to OUT/<machine-id>/ (default results)")
    micro.add_argument("--runs", type=int, metavar="N", help="fresh processes per case (default 3)")
    micro.add_argument("--micro", type=comma_list, metavar="NAME[:SIZE],...",
                       help="only these (default all the device can run): " + ", ".join(
                           f"{name} ({spec.size_unit or 'no size'})" for name, spec in CATALOGUE.items()))
    micro.add_argument("--case-timeout", type=finite, metavar="SECONDS",
                       help="kill a run after this long (default 300)")
    add_db_options(micro)


def add_fleet_parser(commands) -> None:
    """`bench fleet`: validate a fleet through Slurm or Kubernetes and judge its nodes against each other."""
    fleet = commands.add_parser("fleet", help="validate every node of a fleet (Slurm job array, Kubernetes "
                                "Indexed Job) and name its outliers")
    actions = fleet.add_subparsers(dest="fleet_command", required=True, parser_class=OneLineParser)
    submit = actions.add_parser("submit", help="one Slurm job array, one task per node, each running validate")
    submit.add_argument("--slurm", action="store_true", required=True, help="submit to Slurm (sbatch)")
    where = submit.add_mutually_exclusive_group(required=True)
    where.add_argument("--nodes", metavar="LIST", help="a Slurm hostlist, e.g. gpu[001-064]")
    where.add_argument("--partition", metavar="P", help="every node of this partition (also the job's partition)")
    submit.add_argument("--tier", type=int, default=0, help="validate's tier (default 0)")
    submit.add_argument("--time", type=int, metavar="MINUTES", help="time limit per task (default per tier: "
                        + ", ".join(f"{t}: {m} min" for t, m in config.FLEET_TASK_MINUTES.items()) + ")")
    submit.add_argument("--out", type=Path, default=Path(config.DEFAULT_OUT) / "fleet",
                        help="a folder every node can write: reports, Slurm logs, the batch script (default "
                             "results/fleet)")
    submit.add_argument("--array-limit", type=int, metavar="N", help="at most N tasks at once (sbatch --array=...%%N; "
                        "default: all)")
    submit.add_argument("validate_args", nargs="*", metavar="-- VALIDATE-OPTION",
                        help="after --, options for each node's validate (e.g. -- --runs 2)")
    add_db_options(submit, writes=False)
    status = actions.add_parser("status", help="done / running / pending / missing per node, with Slurm's reason")
    status.add_argument("job", metavar="JOB", help="the Slurm job id (or fleet key) submit printed")
    add_db_options(status, writes=False)
    resubmit = actions.add_parser("resubmit", help="a new array of only the missing indexes (never the whole array)")
    resubmit.add_argument("job", metavar="JOB")
    resubmit.add_argument("--missing", action="store_true", required=True,
                          help="resubmit the indexes that failed, timed out, were cancelled or never ran")
    add_db_options(resubmit, writes=False)
    report = actions.add_parser("report", help="every node against its fleet's robust centre, ranked, with the "
                                "drain commands")
    report.add_argument("job", metavar="JOB", nargs="?", help="a fleet job (or --since)")
    report.add_argument("--since", type=iso_date, metavar="DATE", help="each node's latest result since this date, "
                        "over every fleet job")
    report.add_argument("--fail-above", type=finite, metavar="PCT", help="degraded: slower than the fleet by more "
                        "than PCT percent (default " + ", ".join(f"{k} {v:g}" for k, v in
                                                                   config.FLEET_SLOWER_PCT.items()) + ")")
    report.add_argument("--drain", action="store_true", help="run the printed scontrol drain commands")
    add_db_options(report, writes=False)
    manifest = actions.add_parser("manifest", help="a Kubernetes Indexed Job, one pod per node, checked against the "
                                  "Kubernetes API types")
    manifest.add_argument("--k8s", action="store_true", required=True, help="write a Kubernetes manifest")
    manifest.add_argument("--nodes", type=int, required=True, metavar="N", help="nodes (pods, one per node)")
    manifest.add_argument("--tier", type=int, default=0, help="validate's tier (default 0)")
    manifest.add_argument("--image", required=True, help="a container image with torchrig installed")
    manifest.add_argument("--node-names", type=comma_list, default=(), metavar="LIST",
                          help="pin the pods to these nodes (comma list of N names; default any N nodes)")
    manifest.add_argument("--gpus", type=int, default=1, help="nvidia.com/gpu per pod (default 1; 0 on CPU nodes)")
    manifest.add_argument("--secret", default="torchrig-db", help="Secret holding the database URL under key 'url' "
                          "(default torchrig-db)")
    manifest.add_argument("--namespace", help="the Job's namespace (default: kubectl's)")
    manifest.add_argument("--out", type=Path, help="write the YAML here (default: print it)")
    manifest.add_argument("validate_args", nargs="*", metavar="-- VALIDATE-OPTION")
    task = actions.add_parser("task", help="(run by each array task or pod) validate this node, record the task")
    task.add_argument("--fleet", required=True, metavar="KEY")
    task.add_argument("--tier", type=int, required=True)
    task.add_argument("--out", type=Path, required=True)
    task.add_argument("--index", type=int, help="the task's index (default $SLURM_ARRAY_TASK_ID or "
                      "$JOB_COMPLETION_INDEX)")
    task.add_argument("validate_args", nargs="*", metavar="-- VALIDATE-OPTION")
    add_db_options(task, writes=False)


def iso_date(text: str) -> str:
    """An ISO 8601 date or time, as UTC text that sorts with the stored start times."""
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date like 2026-11-30, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")
