"""nox sessions for torchrig. `nox -l` lists them; arguments after `--` pass through.

The software environments live in one place, pyproject.toml's [[tool.torchrig.environments]]
table (bench/run/matrix.py reads it); the first entry is the default set-up of `tests`,
`lint` and `envcheck`. `nox -s bench` installs every environment first, then measures
them interleaved (A B A B) in one `bench run`, and prints one merged table with intervals.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from bench.run.matrix import Environment, MatrixError, load_environments  # noqa: E402
from envcheck.stamps import file_stamp  # noqa: E402

ROOT = Path(__file__).parent
nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"

try:
    ENVIRONMENTS = load_environments(ROOT / "pyproject.toml")
except MatrixError as error:  # a broken entry is reported, the valid ones still run
    ENVIRONMENTS = error.valid
    print(f"nox: {error}", file=sys.stderr)
DEFAULT = ENVIRONMENTS[0]
MATRIX_VENVS = ROOT / ".nox" / "matrix"  # one venv per environment, kept between invocations
SYSTEM_PYTHON = shutil.which("python3") or sys.executable  # read before nox puts a venv on PATH
BENCH_NEEDS = ("torch", "torchvision", "psutil", "pytest_benchmark", "scipy")
LIGHT = ("rich", "psutil", "scipy", "pytest-benchmark", "nvidia-ml-py",  # reading, comparing, orchestrating
         "sqlalchemy>=2.0", "alembic>=1.13")  # and recording into the results database
# The main job's default: the quick suite with three runs a case, then at most two minutes of interleaved
# pairs added to undecided cases (--until-decided, rule 14). Timed from a fresh clone on the 2-core VM (uv's and
# pip's caches warm), idle: 10.9 minutes in all with runs forked from a server and a 3-minute budget (13 cases x 2
# environments, 0 of 13 decided: torch 2.11 and 2.14 run alike within what 3-5 runs a side can tell here). Runs
# start fresh interpreters now (forked ones measured a biased level), ~2.8 s more each for 78 runs: the budget went
# from 3 to 2 minutes to stay within 15. It exits 0 when every case was measured: the matrix informs, compare gates.
MAIN_JOB = ("--suite", "quick", "--runs", "3", "--until-decided", "--budget", "2")


def stamp() -> str:
    return file_stamp()


def install(session: nox.Session, env: Environment, extras: str = "") -> None:
    """The environment's torch pair, then the project (a `system` environment installs nothing)."""
    session.install(*env.pip_args, f"torch=={env.torch}", f"torchvision=={env.torchvision}")
    session.install("-e", f".{extras}")


def install_light(session: nox.Session, *extra: str) -> None:
    """The project without torch: enough to read, compare and plot reports, and to orchestrate runs."""
    session.install("--no-deps", "-e", ".")
    session.install(*LIGHT, *extra)


def has_modules(python: str, modules: tuple[str, ...]) -> bool:
    probe = f"import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in {modules!r}))"
    return subprocess.run([python, "-c", probe], check=False, capture_output=True).returncode == 0


def torch_version(python: str) -> str | None:
    done = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], check=False,
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def uv_binary(session: nox.Session) -> str | None:
    """uv, installed into this session at its first need, for the matrix environments' installs; None (pip
    then) if it cannot be.

    torch's multi-GB wheels are what the main job waits for on a fresh machine: uv installed torch 2.11 with
    its CUDA wheels in 9-14 s where pip took 72 s (no cache either way)."""
    if found := shutil.which("uv", path=session.bin):
        return found
    try:
        session.install("--quiet", "uv")
    except nox.command.CommandFailed:
        session.warn("uv could not be installed: pip installs the matrix environments (slower)")
        return None
    return shutil.which("uv", path=session.bin)


def pip_install(session: nox.Session, python: str, uv: str | None, *args: str) -> None:
    """``pip install ARGS`` into ``python``'s environment, by uv when there is one, by pip if uv fails.

    uv reads PyPI (and the index flags in ``args``), not pip's configuration: where only a mirror that pip
    is configured for can be reached, uv fails and pip, which reads it, installs instead."""
    if uv is not None:
        try:
            session.run(uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python, *args,
                        external=True)
            return
        except nox.command.CommandFailed:
            session.warn(f"uv could not install {' '.join(args)}: trying pip")
    session.run(python, "-m", "pip", "install", "--quiet", *args, external=True)


def matrix_python(session: nox.Session, env: Environment) -> str | None:
    """The interpreter of a matrix environment, installed if needed; None (with a warning) if it cannot be."""
    if env.system:
        if not has_modules(SYSTEM_PYTHON, BENCH_NEEDS):
            session.warn(f"environment {env.name}: {SYSTEM_PYTHON} lacks one of {', '.join(BENCH_NEEDS)}; "
                         "the system environment uses what is installed there and installs nothing: skipped")
            return None
        return SYSTEM_PYTHON
    venv = MATRIX_VENVS / env.name
    python = str(venv / "bin" / "python")
    try:
        if not Path(python).exists():
            session.run("python", "-m", "venv", str(venv))
        if (torch_version(python) or "").split("+")[0] != env.torch or not has_modules(python, ("transformers",)):
            uv = uv_binary(session)
            pip_install(session, python, uv, *env.pip_args, f"torch=={env.torch}", f"torchvision=={env.torchvision}")
            pip_install(session, python, uv, "-e", ".[llm]")
    except nox.command.CommandFailed:
        session.warn(f"environment {env.name}: its install failed (see above): skipped")
        return None
    return python


def chosen(session: nox.Session) -> tuple[list[Environment], list[str]]:
    """`-- --envs a,b` picks environments; the other arguments go to `bench run`."""
    args = list(session.posargs)
    if "--envs" in args:
        at = args.index("--envs")
        names = args[at + 1].split(",") if at + 1 < len(args) else []
        del args[at:at + 2]
        unknown = [n for n in names if n not in {e.name for e in ENVIRONMENTS}]
        if unknown or not names:
            session.error(f"--envs: unknown or empty {unknown or names}; expected {[e.name for e in ENVIRONMENTS]}")
        return [e for e in ENVIRONMENTS if e.name in names], args
    return ENVIRONMENTS, args


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (CI's command) in the default environment; the slow, PostgreSQL, Slurm and browser tests
    (CI runs them after): -- -m "slow or postgres or slurm or browser"."""
    install(session, DEFAULT, "[dev,plot,llm,postgres]")
    session.run("pytest", *(session.posargs or ["-m", "not postgres and not slow and not slurm and not browser"]))


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "envcheck", "models", "bench", "tests", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: every environment installed, then their quick suites interleaved, one merged table."""
    install_light(session)
    environments, args = chosen(session)
    setups = [(env.name, python) for env in environments if (python := matrix_python(session, env))]
    if not setups:
        session.error("no environment of the matrix could be installed")
    out = ROOT / "results" / "matrix" / stamp()
    run_args = list(args or MAIN_JOB)
    session.run("python", "-m", "bench", "run", "--out", str(out), *main_job_db(run_args, os.environ),
                *[f"--setup={name}={python}" for name, python in setups], *run_args)


def main_job_db(run_args: list[str], environ) -> list[str]:
    """Every main job into one results database (results/torchrig.db), not one per output folder, so that its
    history and `bench publish --db results/torchrig.db` see every run of the matrix; $TORCHRIG_DB, or a --db or
    --no-db of the user's, decides instead."""
    chosen = any(a in ("--db", "--no-db") or a.startswith("--db=") for a in run_args)
    return [] if chosen or environ.get("TORCHRIG_DB") else ["--db", str(ROOT / "results" / "torchrig.db")]


@nox.session
@nox.parametrize("env", [env.name for env in ENVIRONMENTS])
def envcheck(session: nox.Session, env: str) -> None:
    """Check the PyTorch install of one matrix environment; JSON under results/matrix/."""
    install_light(session)
    python = matrix_python(session, next(e for e in ENVIRONMENTS if e.name == env))
    if python is None:
        session.skip(f"environment {env} is not installed")
    out = ROOT / "results" / "matrix" / stamp() / env / "envcheck.json"
    session.run(python, "-m", "envcheck", "--json", str(out), *session.posargs, external=True,
                env={"PYTHONPATH": str(ROOT)})


@nox.session
def validate(session: nox.Session) -> None:
    """Hardware gate: envcheck + quick suite + compare with this hardware's baseline set."""
    install(session, DEFAULT, "[llm]")
    session.run("python", "-m", "bench", "validate", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare reports: nox -s compare -- BASE NEW [--fail-above PCT]."""
    install_light(session)
    session.run("python", "-m", "bench", "compare", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Markdown, plots and HTML from reports: nox -s report -- FILES... --out DIR."""
    install_light(session, "matplotlib")
    session.run("python", "-m", "bench", "report", *session.posargs)
