"""Every default of the benchmark in one place: axes, suites, timing rules, replication, thresholds."""

from __future__ import annotations

import dataclasses
import math

MODES = ("train", "finetune", "finetune-lora", "infer")
BACKENDS = ("eager", "compile", "compile-reduce-overhead", "compile-max-autotune")
PRECISIONS = ("fp32", "tf32", "amp-bf16", "amp-fp16")
DEVICES = ("auto", "cpu", "cuda")
SUITES = ("smoke", "quick", "full", "micro")
# synthetic-device: a fixed batch on the device (model speed); the others go through a DataLoader
DATA_SOURCES = ("synthetic-device", "mnist", "synthetic-digits")

# Batch sizes per device kind and model; the seed's 64 is always there for the CNN. Inference
# is measured at batch 1 (latency) and at the model's large batch (throughput).
DEFAULT_BATCH_SIZES: dict[str, dict[str, tuple[int, ...]]] = {
    "cpu": {"mlp": (64, 256), "cnn": (64, 256), "mlp-large": (64,), "resnet18": (8,), "resnet50": (8,),
            "llm-tiny": (2,), "llm-1b": (1,)},
    "cuda": {"mlp": (64, 4096), "cnn": (64, 4096), "mlp-large": (4096,), "resnet18": (256,), "resnet50": (256,),
             "llm-tiny": (64,), "llm-1b": (8,)},
}


@dataclasses.dataclass(frozen=True)
class TimingRules:
    """How one run of a case is timed (docs/measurement.md, rules 2-4)."""

    min_round_s: float = 0.1  # K steps per round so that a round takes at least this
    rounds: int = 5  # at least 5
    warmup_max_s: float = 5.0  # warm up until steady, but never longer than this (the cap is reported)
    # Steady (bench/measure/timing.py: settled): the median of the last warmup_min_rounds rounds lies within
    # steady_spreads standard errors (from the rounds' own robust spread) of the median of the rounds
    # before them, or within steady_tolerance of it. Before, "three rounds within 3 %" was met by 2 of 26
    # case results on a quiet 2-core VM, whose rounds vary by ~5.5 %.
    warmup_min_rounds: int = 3
    steady_tolerance: float = 0.005  # window medians this close (relative) are steady whatever the spread
    steady_spreads: float = 2.0
    unstable_cv: float = 0.10  # pyperf: std/mean >= 10 % is unstable
    unstable_spread: float = 0.50  # pyperf: min or max >= 50 % off the mean
    case_timeout_s: float = 600.0  # one run of one case, process start and compile included
    latency_calls: int = 50  # inference: calls timed one by one for the latency percentiles...
    latency_max_s: float = 2.0  # ...or fewer, when they would take longer than this


@dataclasses.dataclass(frozen=True)
class Block:
    """One product of axes inside a suite; None means 'the default for the device'."""

    models: tuple[str, ...]
    modes: tuple[str, ...] = ("train", "finetune")
    backends: tuple[str, ...] = ("eager", "compile")
    precisions: tuple[str, ...] = ("fp32", "amp-bf16")
    batch_sizes: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    description: str
    blocks: dict[str, tuple[Block, ...]]  # device kind -> blocks
    timing: TimingRules
    runs: int  # fresh processes per case (docs/measurement.md, rule 10: the unit of replication). Five: simulated with
    # the run-to-run spread of a 2-core VM (20-35 %), Welch on log run medians over 7 cases called a 2x
    # slowdown in 86-100 % of trials and raised a false alarm in under 2 %; three runs caught 24-39 %.
    micro: tuple[str, ...] = ()  # micro-benchmarks it runs besides its blocks (bench/results/micro.py names)


EAGER, COMPILED = ("eager",), ("compile",)
SUITE_DEFS: dict[str, Suite] = {
    "smoke": Suite(
        "smoke",
        "CPU-sized: train and finetune, eager and compile, fp32 and amp-bf16 in about two minutes (CI)",
        {
            kind: (
                Block(("mlp",), backends=EAGER, batch_sizes=(64,)),
                Block(("mlp",), modes=("train",), backends=COMPILED, precisions=("fp32",), batch_sizes=(64,)),
                Block(("cnn",), modes=("train",), backends=EAGER, precisions=("fp32",), batch_sizes=(64,)),
            )
            for kind in ("cpu", "cuda")
        },
        TimingRules(rounds=5, warmup_max_s=1.0, case_timeout_s=180.0),
        runs=5,
    ),
    "quick": Suite(
        "quick",
        "the default: every model family, its main modes, backends and precisions on the device",
        {
            # Sized for a 2-core CPU: the main job (two environments interleaved, 3 runs, installs included) in
            # under 15 min. mlp-large (2.5 s a step, 30 s a run at AVX2, 5.6 GB) is in the full suite only.
            "cpu": (
                Block(("mlp",), modes=("train",), batch_sizes=(64,)),
                Block(("cnn",), modes=("train",), backends=EAGER, batch_sizes=(64,)),
                Block(("cnn",), modes=("finetune",), backends=EAGER, precisions=("fp32",), batch_sizes=(64,)),
                Block(("resnet18",), modes=("train", "finetune", "infer"), backends=EAGER, precisions=("fp32",)),
                Block(("llm-tiny",), modes=("train", "finetune-lora", "infer"), backends=EAGER,
                      precisions=("fp32",)),
            ),
            # Sized to finish in about five minutes on an H200, compiles included: every
            # backend and precision on the CNN, fewer compiled cases elsewhere.
            "cuda": (
                Block(("cnn",), modes=("train",), backends=EAGER, precisions=PRECISIONS, batch_sizes=(64, 4096)),
                Block(("cnn",), modes=("train",), backends=COMPILED, precisions=("fp32", "amp-bf16"),
                      batch_sizes=(64, 4096)),
                Block(("cnn",), modes=("train",), backends=("compile-reduce-overhead",),
                      precisions=("fp32", "amp-bf16"), batch_sizes=(64,)),
                Block(("cnn",), modes=("finetune",), backends=("eager", "compile"), precisions=("amp-bf16",),
                      batch_sizes=(4096,)),
                Block(("mlp",), backends=EAGER, precisions=("fp32", "amp-bf16"), batch_sizes=(4096,)),
                Block(("mlp-large",), modes=("train",), backends=EAGER, precisions=("tf32", "amp-bf16")),
                Block(("mlp-large",), modes=("train",), backends=COMPILED, precisions=("amp-bf16",)),
                Block(("resnet50",), modes=("train",), backends=COMPILED, precisions=("amp-bf16",)),
                Block(("resnet50",), modes=("infer",), backends=("eager", "compile-reduce-overhead"),
                      precisions=("amp-bf16",), batch_sizes=(1, 256)),
                Block(("llm-1b",), modes=("train", "finetune-lora"), backends=EAGER, precisions=("amp-bf16",)),
                Block(("llm-1b",), modes=("infer",), backends=EAGER, precisions=("amp-bf16",), batch_sizes=(1, 8)),
            ),
        },
        TimingRules(rounds=5, warmup_max_s=1.0, case_timeout_s=600.0),
        runs=5,
    ),
    "full": Suite(
        "full",
        "every backend (max-autotune too) and precision, more rounds and runs",
        {
            kind: (Block(("mlp", "cnn", "mlp-large"), backends=BACKENDS, precisions=PRECISIONS),
                   Block(("resnet18", "resnet50"), modes=("train", "finetune", "infer"), backends=BACKENDS,
                         precisions=PRECISIONS),
                   Block(("llm-tiny", "llm-1b"), modes=("train", "finetune-lora", "infer"), backends=BACKENDS,
                         precisions=PRECISIONS),
                   Block(("resnet18", "resnet50", "llm-tiny", "llm-1b"), modes=("infer",), backends=BACKENDS,
                         precisions=PRECISIONS, batch_sizes=(1,)))  # latency at batch 1 beside throughput
            for kind in ("cpu", "cuda")
        },
        TimingRules(rounds=15, warmup_max_s=10.0, case_timeout_s=900.0),
        runs=8,
    ),
}

# Hardware micro-benchmarks (`bench micro`, bench/results/micro.py): every one the device can run, three fresh
# processes each, sized for <= 60 s on the 2-core VM (59.7 s with sdc-matmul at 2 s on a CPU; 62.3 s at 3 s).
SUITE_DEFS["micro"] = Suite(
    "micro", "hardware micro-benchmarks: memory and host-device bandwidth, launch latency, peer copy, all-reduce "
    "busbw, silent data corruption", {"cpu": (), "cuda": ()},
    TimingRules(rounds=5, warmup_max_s=1.0, case_timeout_s=300.0), runs=3,
    micro=("mem-copy", "mem-triad", "h2d-pinned", "h2d-pageable", "d2h-pinned", "d2h-pageable", "launch", "peer-copy",
           "allreduce", "sdc-matmul"))
# Sizes of a micro-benchmark named without one (MiB of one buffer or message; seconds of load for sdc-matmul).
# mem-*: None, sized from the caches: MICRO_CACHE_MULTIPLE x the last-level cache (CPU, STREAM's rule: each array at
# least 4x the caches) or L2 (GPU), at least MICRO_MIN_BUFFER_MIB, rounded up to a power of two, and at most
# MICRO_MEMORY_SHARE of the memory per buffer (a capped size is noted in the run). 4 GiB on a GPU: an H200 copy of
# 4 GiB ran at 4.3 TB/s of 4.8; its L2 is 50 MiB.
MICRO_DEFAULTS: dict[str, dict[str, int | None]] = {
    "cpu": {"mem-copy": None, "mem-triad": None, "launch": 1, "allreduce": 16, "sdc-matmul": 2},
    "cuda": {"mem-copy": 4096, "mem-triad": 4096, "h2d-pinned": 1024, "h2d-pageable": 1024, "d2h-pinned": 1024,
             "d2h-pageable": 1024, "launch": 1, "peer-copy": 256, "allreduce": 256, "sdc-matmul": 10},
}
MICRO_CACHE_MULTIPLE = 4
MICRO_MIN_BUFFER_MIB = 64
MICRO_MEMORY_SHARE = 1 / 16  # of RAM (CPU) or GPU memory, per buffer: triad holds three
MICRO_SDC_MATMUL_N = {"cpu": 512, "cuda": 8192}  # n of the corruption check's n x n x n fp32 matmul
MICRO_SDC_REFERENCE_ROWS = 64  # rows of its first result checked against float64 on the CPU
# the micro suite measures these matmul ceilings too, to set them beside the datasheet (bench/results/datasheets.py)
MICRO_CEILINGS = {"cpu": (), "cuda": ("fp32", "tf32", "amp-bf16", "amp-fp16")}
MICRO_CPU_RANKS = 2  # gloo ranks of a CPU all-reduce (each gets cores / ranks threads)
FLEET_MIN_HOSTS = 2  # other hosts of one fingerprint before `bench micro` sets a figure beside the fleet's median

LEARNING_RATE = 1e-3  # Adam, as in the seed article
SGD_LEARNING_RATE, SGD_MOMENTUM = 0.1, 0.9  # ResNet's ImageNet recipe
DECODE_TOKENS = 32  # greedy tokens generated per call by a language model's decode measurement

# Comparison (docs/measurement.md, rule 10): a case is called faster or slower only when the run-level
# test is significant after controlling the false discovery rate over all cases of the
# comparison, and the change is at least MIN_CHANGE; "same" needs the confidence interval of
# the ratio inside +-EQUIVALENCE_MARGIN_PCT (or --fail-above); anything else is inconclusive.
ALPHA = 0.05
MIN_CHANGE = 0.01
EQUIVALENCE_MARGIN_PCT = 5.0
MIN_RUNS_TO_DECIDE = 2  # per side: one run has no spread to judge by
# validate: a case slower than the baseline beyond this (significantly) is degraded.
VALIDATE_FAIL_ABOVE_PCT = {"cuda": 5.0, "cpu": 10.0}
MIN_BASELINE_RUNS = 3  # recorded invocations before validate judges speed: their spread has 2 degrees of freedom
# Replicate until decided (rule 14, bench/analysis/sequential.py): a case is looked at after its planned runs and after
# each added pair, at most SEQUENTIAL_MAX_LOOKS times; the error is spent over the looks by the Hwang-Shih-DeCani
# family with this gamma (-4 is O'Brien-Fleming-like, 1 Pocock-like).
SEQUENTIAL_MAX_LOOKS = 16
SEQUENTIAL_SPENDING_GAMMA = -2.0
SEQUENTIAL_ALPHA_SHARE = 0.8  # of alpha a design of several looks spends: t-tests at small df cross z boundaries more
UNTIL_DECIDED_BUDGET_MIN = 10.0  # default --budget of --until-decided, in minutes of added runs
# Interleaved sides whose runs pair up (run i of A next to run i of B) are tested on their log ratios from this
# many pairs on; with fewer, Welch's test, whose twice as many degrees of freedom are worth more.
PAIRED_MIN_PAIRS = 6
# A baseline set covers the hardware's drift only when its invocations come from several sittings: recordings
# with less than SITTING_GAP_MIN minutes between one's end and the next one's start share the machine's state
# (clocks, memory layout, neighbours) as rounds of one process do. The committed 2-core VM set: three
# back-to-back recordings spread by sd 0.023 (log), a later sitting was 21-28 % slower (Welch p < 0.001).
SITTING_GAP_MIN = 30.0
MIN_BASELINE_SITTINGS = 3  # sittings before validate judges speed: their spread has 2 degrees of freedom
# The least drift between invocations (sd of log invocation means) validate and compare assume on a device
# class, whatever a baseline set shows: cpu, the tightest spread seen between back-to-back recordings on the
# 2-core VM (0.023); cuda, a warm H200 case is steady within 0.5 %.
DRIFT_FLOOR_SD = {"cpu": 0.02, "cuda": 0.005}
DEFAULT_OUT = "results"

# Upper bounds of what a run may be asked (issue 21): beyond these a value is a typo or an attack, and
# would exhaust memory or last until the case timeout; each is refused in one line, exit 2.
LIMITS = {
    "runs": 10_000,  # fresh processes per case
    "rounds": 10_000,  # timed rounds per run
    "min_round_s": 600.0,  # seconds a round lasts at least
    "warmup_max_s": 3600.0,
    "case_timeout_s": 7 * 24 * 3600.0,  # a week: one run of one case
    "batch_size": 2**20,
    "loader_workers": 256,
    "lora_rank": 65_536,
    "nnodes": 100_000,
    "nproc_per_node": 1024,  # even with --oversubscribe
    "tflops": 1e6,  # a given matmul ceiling, TFLOP/s
}
MAX_SETUP_LABEL = 64  # characters of a --setup label (it names folders: [A-Za-z0-9._-], no leading dot)
MAX_TIME_S = LIMITS["case_timeout_s"]  # no time in a report (a round, a call, a step) can be longer

# The results database (bench/store): the embedded SQLite file unless --db or TORCHRIG_DB names another.
DB_FILE = "torchrig.db"  # run and validate: beside their reports, in --out
DB_DEFAULT = f"{DEFAULT_OUT}/{DB_FILE}"
DB_ENV = "TORCHRIG_DB"
# Change points in a history series (bench/analysis/changes.py; the false-alarm rate they give is measured in
# tests/unit/test_changes.py).
CHANGE_MAX_PVALUE = 1e-4  # p < 1e-3 let 2 % of 60-point noise series through, 1e-4: 0.6 %
CHANGE_MIN_SEGMENT = 5
CHANGE_PENALTY_FACTOR = 3.0
HISTORY_BASELINE_INVOCATIONS = 10  # compare --baseline-from-history: the last N invocations on this hardware...
HISTORY_RECENT_INVOCATIONS = 10  # validate mentions change points among each series' last N invocations
HISTORY_PLOT_MAX_SERIES = 8  # bench history --plot: one panel per series, the first N (a machine has many)
# Fleet validation (bench/analysis/fleet.py, bench/run/slurm.py; issue 23): a node is degraded when it is slower than
# the robust centre of its fingerprint's fleet beyond FLEET_SLOWER_PCT, one-sided at FLEET_ALPHA per node (Holm over
# its cases): at most 1 % of healthy nodes flagged. 2 % on a GPU: SuperBench's fleets are judged at -5 %, a warm H200
# case is steady within 0.5 %, so 2 % leaves a 5 % slow node several spreads clear; 10 % on a CPU, as validate.
FLEET_SLOWER_PCT = {"cuda": 2.0, "cpu": 10.0}
FLEET_ALPHA = 0.01
FLEET_MIN_PEERS = 3  # nodes of one fingerprint (the node included) before its speed is judged
FLEET_POWER = 0.8  # of the smallest detectable slowdown a report gives
FLEET_HISTORY_RUNS = 5  # a fleet report sets each node beside the median of its own last N validations
FLEET_TASK_MINUTES = {0: 2, 1: 4, 2: 20}  # Slurm --time per array task by tier: the tier's budget plus start-up

# `bench publish` (bench/render/site): the static results site.
SITE_MANIFEST = ".torchrig-site.json"  # which pages the site's last publish wrote, with their inputs' digests
SITE_LATEST_CHANGES = 50  # the overview lists the most recent change points of all series, at most this many
SITE_OUTLIER_PCT = 10.0  # a node whose throughput on a case is this far from its fleet's median is an outlier
SITE_HISTORY_POINTS = 10  # a node page judges its latest result against the median of its previous N
SITE_WEBGL_POINTS = 20000  # a case plot with more points is drawn with WebGL (SVG slows down beyond that)
SITE_MAX_BANDS = 40  # a case plot draws the run-spread band and legend of its first N lines (more hide each other)

class RequestError(ValueError):
    """A request that cannot run as asked (a flag's value, a file it names): the message names the flag and
    what was expected; `python -m bench` reports it in one line, exit 2."""


def fail_above_error(value: float | None) -> str | None:
    """The one rule for --fail-above (run, compare and validate): a percentage in [0, 100)."""
    if value is None or (math.isfinite(value) and 0 <= value < 100):
        return None
    return f"--fail-above must be a percentage in [0, 100), got {value}"
