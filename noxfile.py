"""nox sessions for torchrig. `nox -l` lists them; arguments after `--` pass through.

The software environments live in one place, pyproject.toml's
[[tool.torchrig.environments]] table (bench/matrix.py reads it); the first entry
is the default set-up of `tests`, `lint` and `envcheck`.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from bench.matrix import Environment, MatrixError, load_environments  # noqa: E402

ROOT = Path(__file__).parent
PYPROJECT = ROOT / "pyproject.toml"
nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"

try:
    ENVIRONMENTS = load_environments(PYPROJECT)
except MatrixError as error:  # a broken entry is reported, the valid ones still run
    ENVIRONMENTS = error.valid
    print(f"nox: {error}", file=sys.stderr)
DEFAULT = ENVIRONMENTS[0]
# One folder per invocation of the matrix, so that its merged summary reads only its own reports.
MATRIX_DIR = ROOT / "results" / "matrix" / datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
SYSTEM_PYTHON = shutil.which("python3") or sys.executable  # read before nox puts a venv on PATH


def by_name(name: str) -> Environment:
    return next(env for env in ENVIRONMENTS if env.name == name)


def install(session: nox.Session, env: Environment, extras: str = "") -> None:
    """The environment's torch pair, then the project (a `system` environment installs nothing)."""
    session.install(*env.pip_args, f"torch=={env.torch}", f"torchvision=={env.torchvision}")
    session.install("-e", f".{extras}")


BENCH_NEEDS = ("torch", "torchvision", "rich", "psutil", "pytest_benchmark")
ENVCHECK_NEEDS = ("rich",)  # envcheck reports a missing or broken torch itself


def skip_unless_system_ready(session: nox.Session, needs: tuple[str, ...]) -> None:
    """The system environment installs nothing, so it runs only where its python3 has ``needs``."""
    probe = f"import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in {needs!r}))"
    if subprocess.run([SYSTEM_PYTHON, "-c", probe], check=False).returncode != 0:
        session.skip(f"{SYSTEM_PYTHON} lacks one of {', '.join(needs)}; "
                     "the system environment uses what is installed there and installs nothing")


def prepare(session: nox.Session, name: str, needs: tuple[str, ...], before_install=lambda: None) -> Environment:
    """The matrix environment ``name``, installed (or, for system, checked and maybe skipped)."""
    spec = by_name(name)
    if spec.system:
        skip_unless_system_ready(session, needs)
    before_install()
    if not spec.system:
        install(session, spec)
    return spec


def run_in(session: nox.Session, env: Environment, *args: str) -> None:
    """`python -m ...` in the environment: the session's venv, or the system interpreter."""
    if env.system:
        session.run(SYSTEM_PYTHON, "-m", *args, external=True, env={"PYTHONPATH": str(ROOT)})
    else:
        session.run("python", "-m", *args)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (CI's command) in the default environment."""
    install(session, DEFAULT, "[dev,plot]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "envcheck", "models", "bench", "tests", "noxfile.py")


@nox.session
@nox.parametrize("env", [env.name for env in ENVIRONMENTS])
def envcheck(session: nox.Session, env: str) -> None:
    """Check the PyTorch install of one matrix environment; JSON under results/matrix/."""
    spec = prepare(session, env, ENVCHECK_NEEDS)
    out = MATRIX_DIR / env / "envcheck.json"
    run_in(session, spec, "envcheck", "--json", str(out), *session.posargs)


@nox.session
@nox.parametrize("env", [env.name for env in ENVIRONMENTS])
def bench(session: nox.Session, env: str) -> None:
    """Run the benchmark (quick suite unless told otherwise) in one matrix environment."""

    def announce() -> None:  # before installing, so the summary runs and names this environment if it fails
        session.notify("bench_summary")
        (MATRIX_DIR / env).mkdir(parents=True, exist_ok=True)

    spec = prepare(session, env, BENCH_NEEDS, announce)
    args = session.posargs or ["--suite", "quick"]
    run_in(session, spec, "bench", "run", "--label", env, "--out", str(MATRIX_DIR / env), *args)


@nox.session
def bench_summary(session: nox.Session) -> None:
    """Merge this matrix run's reports: rows = cases, columns = environments."""
    install_light(session)
    # in the declared order, so that ratios are to the first environment
    reports = [path for env in ENVIRONMENTS for path in sorted((MATRIX_DIR / env.name).glob("*/*.json"))]
    reported = {path.relative_to(MATRIX_DIR).parts[0] for path in reports}
    for tried in sorted(p.name for p in MATRIX_DIR.iterdir() if p.is_dir()):
        if tried not in reported:
            session.warn(f"environment {tried}: no report (its install or run failed; see its session above)")
    if not reports:
        session.error(f"no reports under {MATRIX_DIR}")
    session.run("python", "-m", "bench", "summary", *map(str, reports))


@nox.session
def validate(session: nox.Session) -> None:
    """Hardware gate: envcheck + quick suite + compare with results/baselines/<device>.json."""
    install(session, DEFAULT)
    session.run("python", "-m", "bench", "validate", *session.posargs)


def install_light(session: nox.Session, *extra: str) -> None:
    """The project without torch: enough to read, compare and plot reports."""
    session.install("--no-deps", "-e", ".")
    session.install("rich", "pytest-benchmark", *extra)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare reports: nox -s compare -- BASE.json NEW.json [--fail-above PCT]."""
    install_light(session)
    session.run("python", "-m", "bench", "compare", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Markdown, plots and HTML from reports: nox -s report -- FILES... --out DIR."""
    install_light(session, "matplotlib")
    session.run("python", "-m", "bench", "report", *session.posargs)
