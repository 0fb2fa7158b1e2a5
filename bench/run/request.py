"""An invocation's request: everything `bench run` (and validate, the pytest front end, DDP) was asked to do.

Checked in two steps, each reporting every error at once in one line (RequestError, exit 2): the values in
``__post_init__`` (no I/O, so a request decoded from a journal touches nothing), then the disk in
``check_disk()`` (the output folder, a checkpoint, MNIST, the setups' interpreters), which the executor
calls before it plans. No torch import: a usage error costs milliseconds.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import sys
from pathlib import Path

from bench import config
from bench.config import RequestError
from bench.results.cases import check_axes
from bench.results.micro import parse_micro
from bench.results.report import Setup
from envcheck.files import OutputError, check_output_dir
from models.llm import DEFAULT_LORA_RANK, DEFAULT_LORA_TARGETS

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SETUP_LABEL = re.compile(rf"[A-Za-z0-9_-][A-Za-z0-9._-]{{0,{config.MAX_SETUP_LABEL - 1}}}")  # it names folders
RDZV = re.compile(r"(?P<host>[\w.\-\[\]:]+):(?P<port>\d+)")
# The options of `bench run` and `validate` that are not request fields: the verb, the parts of a launch and
# the setups (parsed here into their own types), and what other steps own (resume, listing, the baseline,
# recording, JUnit, the database, the undecided exit code).
NOT_REQUEST_OPTIONS = frozenset({"command", "resume", "list", "setup", "nproc_per_node", "nnodes", "node_rank",
                                 "rdzv_endpoint", "oversubscribe", "baseline", "baselines", "record", "junit_xml",
                                 "allow_undecided", "db", "no_db",
                                 "tier"})  # validate --tier: bench/run/tiers.py fills the request's fields
MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


@dataclasses.dataclass(frozen=True)
class Launch:
    """A torchrun launch of data-parallel cases (one process per rank)."""

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    oversubscribe: bool = False  # more ranks than cores (CPU) or GPUs (CUDA) on this node

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def errors(self) -> list[str]:
        errors = []
        if self.nproc_per_node < 1:
            errors.append(f"--nproc-per-node must be >= 1, got {self.nproc_per_node}")
        elif self.nproc_per_node > config.LIMITS["nproc_per_node"]:
            errors.append(f"--nproc-per-node must be at most {config.LIMITS['nproc_per_node']}, "
                          f"got {self.nproc_per_node}")
        if not 1 <= self.nnodes <= config.LIMITS["nnodes"]:
            errors.append(f"--nnodes must be in 1..{config.LIMITS['nnodes']}, got {self.nnodes}")
        if not 0 <= self.node_rank < max(self.nnodes, 1):
            errors.append(f"--node-rank must be in 0..{self.nnodes - 1}, got {self.node_rank}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            errors.append("--nnodes > 1 needs --rdzv-endpoint HOST:PORT")
        if self.rdzv_endpoint:
            match = RDZV.fullmatch(self.rdzv_endpoint)
            if not match or not 1 <= int(match["port"]) <= 65535:
                errors.append(f"--rdzv-endpoint expects HOST:PORT with a port in 1..65535, got {self.rdzv_endpoint!r}")
        return errors

    def rank_count_error(self, device: str, cores: int | None, gpus: int) -> str | None:
        """More ranks than the node has cores (CPU) or GPUs (CUDA), unless --oversubscribe."""
        have, what = (gpus, "GPUs") if device == "cuda" else (cores or 1, "cores")
        if self.oversubscribe or self.nproc_per_node <= have:
            return None
        return (f"--nproc-per-node {self.nproc_per_node} is more than this node's {have} {what}; "
                "pass --oversubscribe to run that many ranks anyway")

    def torchrun_args(self) -> list[str]:
        args = [f"--nproc-per-node={self.nproc_per_node}", f"--nnodes={self.nnodes}",
                f"--node-rank={self.node_rank}", "--max-restarts=0"]
        if self.rdzv_endpoint:
            return args + ["--rdzv-backend=c10d", f"--rdzv-endpoint={self.rdzv_endpoint}"]
        return args + ["--standalone"]


def parse_setup(text: str) -> Setup:
    """'LABEL=PYTHON[,VAR=VALUE...]', e.g. 'omp1=python,OMP_NUM_THREADS=1' ('python': this interpreter)."""
    label, _, rest = text.partition("=")
    python, *assignments = rest.split(",") if rest else ("",)
    env = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not ENV_NAME.fullmatch(name):
            raise RequestError(f"--setup {text!r}: expected LABEL=PYTHON[,VAR=VALUE...], got {assignment!r}")
        env[name] = value
    if not label or not python:
        raise RequestError(f"--setup {text!r}: expected LABEL=PYTHON[,VAR=VALUE...]")
    return Setup(label, resolve_python(python), env)


def this_interpreter(label: str | None = None) -> Setup:
    return Setup(label or "", sys.executable, {})


@dataclasses.dataclass(frozen=True)
class InvocationRequest:
    suite: str = "quick"
    device: str = "auto"
    models: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    batch_sizes: tuple[int, ...] | None = None
    channels_last: bool | None = None  # None: the model's usual layout on the device
    checkpoint: Path | None = None
    rounds: int | None = None
    runs: int | None = None
    min_round_s: float | None = None
    warmup_max_s: float | None = None
    case_timeout_s: float | None = None
    out: Path = Path(config.DEFAULT_OUT)
    data: str = "synthetic-device"
    data_dir: Path | None = None
    download: bool = False
    loader_workers: int | None = None
    launch: Launch | None = None
    label: str | None = None
    setups: tuple[Setup, ...] = ()
    ceilings: tuple[tuple[str, float], ...] = ()  # precision -> TFLOP/s given instead of measured
    lora_rank: int = DEFAULT_LORA_RANK
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    until_decided: bool = False  # after the planned runs, add runs to undecided cases (rule 14)
    budget_min: float = config.UNTIL_DECIDED_BUDGET_MIN  # minutes of added runs at most
    fail_above: float | None = None  # percent: the threshold --until-decided decides at (as compare's)
    micro: tuple[str, ...] | None = None  # micro-benchmarks (NAME or NAME:SIZE) besides the model cases, instead of
    # the suite's own micro list (the micro suite's: every one)
    argv: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        errors = self.errors()
        if errors:
            raise RequestError("; ".join(errors))

    def check_disk(self) -> None:
        """What the request needs on disk, before anything is planned: RequestError naming every problem."""
        errors = self.disk_errors()
        if errors:
            raise RequestError("; ".join(errors))
        try:
            check_output_dir(self.out)
        except OutputError as error:
            raise RequestError(f"--out {error}") from None

    def errors(self) -> list[str]:
        errors = check_axes(self.models, self.modes, self.backends, self.precisions, self.batch_sizes)
        for name, value, valid in (("suite", self.suite, config.SUITES), ("device", self.device, config.DEVICES),
                                   ("data", self.data, config.DATA_SOURCES)):
            if value not in valid:
                errors.append(f"--{name} {value!r} is not one of {', '.join(valid)}")
        limits = config.LIMITS
        if self.rounds is not None and not 5 <= self.rounds <= limits["rounds"]:
            errors.append(f"--rounds must be in 5..{limits['rounds']}, got {self.rounds}")
        if self.runs is not None and not 1 <= self.runs <= limits["runs"]:
            errors.append(f"--runs must be in 1..{limits['runs']}, got {self.runs}")
        for flag, value, zero_ok, limit in (("--min-round-s", self.min_round_s, False, limits["min_round_s"]),
                                            ("--warmup-max-s", self.warmup_max_s, True, limits["warmup_max_s"]),
                                            ("--case-timeout", self.case_timeout_s, False, limits["case_timeout_s"])):
            if value is not None and not (math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
                errors.append(f"{flag} must be a finite number {'>=' if zero_ok else '>'} 0, got {value}")
            elif value is not None and value > limit:
                errors.append(f"{flag} must be at most {limit:g} s, got {value:g}")
        for precision, tflops in self.ceilings:
            if precision not in config.PRECISIONS or not (math.isfinite(tflops) and 0 < tflops <= limits["tflops"]):
                errors.append(f"--ceilings expects PRECISION=TFLOPS with a positive rate, got {precision}={tflops}")
        if self.data == "mnist" and self.data_dir is None:
            errors.append("--data mnist needs --data-dir DIR (the folder holding MNIST/raw)")
        if self.loader_workers is not None and not 0 <= self.loader_workers <= limits["loader_workers"]:
            errors.append(f"--loader-workers must be in 0..{limits['loader_workers']}, got {self.loader_workers}")
        if self.launch is not None:
            errors += self.launch.errors()
            if self.device == "cpu" and not self.launch.errors():  # known now; auto and cuda: when planned
                errors += filter(None, [self.launch.rank_count_error("cpu", os.cpu_count(), 0)])
        if not 1 <= self.lora_rank <= limits["lora_rank"]:
            errors.append(f"--lora-rank must be in 1..{limits['lora_rank']}, got {self.lora_rank}")
        if not self.lora_targets:
            errors.append("--lora-targets is empty; expected module names such as q_proj,v_proj")
        if self.label is not None and not self.label.strip():
            errors.append("--label is empty")
        if not (math.isfinite(self.budget_min) and self.budget_min >= 0):
            errors.append(f"--budget must be a finite number of minutes >= 0, got {self.budget_min}")
        errors += filter(None, [config.fail_above_error(self.fail_above)])
        errors += micro_errors(self.micro)
        if self.until_decided and self.launch is not None:
            errors.append("--until-decided does not extend data-parallel runs (no --nproc-per-node)")
        return errors + self.setup_errors()

    def decision_thresholds(self) -> dict:
        """compare_reports' thresholds for the decisions --until-decided aims at (compare's defaults)."""
        from bench.analysis.compare import CompareRequest

        return CompareRequest(self.fail_above).thresholds()

    def disk_errors(self) -> list[str]:
        errors = []
        if self.checkpoint is not None and not self.checkpoint.is_file():
            errors.append(f"--checkpoint {self.checkpoint}: no such file; expected a state dict saved by torch.save")
        for setup in self.setups:
            if not (os.path.isfile(setup.python) and os.access(setup.python, os.X_OK)):
                errors.append(f"--setup {setup.label}: {setup.python} is not an executable Python")
        return errors + self.data_errors()

    def data_errors(self) -> list[str]:
        if self.data != "mnist" or self.data_dir is None:
            return []
        raw = self.data_dir / "MNIST" / "raw"
        missing = [name for name in MNIST_NAMES if not (raw / name).exists() and not (raw / f"{name}.gz").exists()]
        if missing and not self.download:
            return [f"MNIST not found under {raw}: expected {', '.join(MNIST_NAMES)} (or their .gz archives); "
                    f"missing {', '.join(missing)}; pass --download to fetch them"]
        return []

    def setup_errors(self) -> list[str]:
        errors = []
        labels = [setup.label for setup in self.setups]
        if len(set(labels)) != len(labels):
            errors.append(f"--setup labels must differ, got {', '.join(labels)}")
        for setup in self.setups:
            if not SETUP_LABEL.fullmatch(setup.label):
                errors.append(f"--setup label {setup.label!r}: expected up to {config.MAX_SETUP_LABEL} of "
                              "A-Z a-z 0-9 . _ - (not starting with a dot)")
        return errors

    @classmethod
    def from_args(cls, args, **overrides) -> InvocationRequest:
        """From parsed `bench run` (or validate) arguments; options a verb lacks keep their defaults."""
        options = vars(args)
        launch = None
        if options.get("nproc_per_node") is not None:
            launch = Launch(options["nproc_per_node"], options["nnodes"], options["node_rank"],
                            options["rdzv_endpoint"], bool(options.get("oversubscribe")))
        elif options.get("nnodes", 1) != 1 or options.get("rdzv_endpoint"):
            raise RequestError("--nnodes and --rdzv-endpoint need --nproc-per-node")
        renamed = {"case_timeout": "case_timeout_s", "budget": "budget_min"}
        unknown = sorted(name for name in options if renamed.get(name, name) not in REQUEST_FIELDS
                         and name not in NOT_REQUEST_OPTIONS)
        if unknown:  # a new flag that reaches no field would be dropped without a word
            raise TypeError(f"options {unknown} are neither request fields nor listed in NOT_REQUEST_OPTIONS")
        fields = {renamed.get(name, name): value for name, value in options.items()
                  if renamed.get(name, name) in REQUEST_FIELDS and name not in ("setups", "launch")}
        setups = tuple(parse_setup(text) for text in options.get("setup", ()))
        return cls(**fields, launch=launch, setups=setups, argv=tuple(sys.argv[1:]), **overrides)

    # ------------------------------------------------------------------ derived

    @property
    def suite_def(self) -> config.Suite:
        return config.SUITE_DEFS[self.suite]

    @property
    def rules(self) -> config.TimingRules:
        overrides = {"rounds": self.rounds, "min_round_s": self.min_round_s, "warmup_max_s": self.warmup_max_s,
                     "case_timeout_s": self.case_timeout_s}
        return dataclasses.replace(self.suite_def.timing, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def runs_per_case(self) -> int:
        return self.runs or self.suite_def.runs

    @property
    def loader_workers_or_default(self) -> int:
        """DataLoader worker processes of end-to-end cases: as given, else cores - 1 (1 to 4)."""
        if self.loader_workers is not None:
            return self.loader_workers
        return max(1, min(4, (os.cpu_count() or 2) - 1))

    @property
    def all_setups(self) -> tuple[Setup, ...]:
        return self.setups or (this_interpreter(self.label),)


REQUEST_FIELDS = {field.name for field in dataclasses.fields(InvocationRequest)} - {"argv"}


def micro_errors(names: tuple[str, ...] | None) -> list[str]:
    """Each micro-benchmark name that is not one (bench/results/micro.py), or a size it cannot take."""
    if names is not None and not names:
        return ["--micro is empty; expected a comma list of micro-benchmarks (NAME or NAME:SIZE)"]
    errors = []
    for name in names or ():
        try:
            parse_micro(name)
        except ValueError as error:
            errors.append(f"--micro: {error}")
    return errors


def resolve_python(name: str) -> str:
    """'python' is this interpreter; other names are looked up on PATH; paths are kept."""
    if name == "python":
        return sys.executable
    return shutil.which(name) or name
