"""nox sessions for torchrig. `nox -l` lists them; posargs pass through.

The torch/torchvision pairs live in one place, pyproject.toml's
[[tool.torchrig.environments]] table; the first entry is the default set-up.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).parent
nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"


def environments() -> list[dict]:
    """The declared software environments, in order."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["torchrig"]["environments"]


def install_project(session: nox.Session, env: dict, extras: str = "") -> None:
    """Install the environment's torch pair, then the project with ``extras``."""
    session.install(*env.get("pip_args", []), f"torch=={env['torch']}",
                    f"torchvision=={env['torchvision']}")
    session.install("-e", f".{extras}")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (CI's command) on the default environment."""
    install_project(session, environments()[0], "[dev,plot]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "envcheck", "models", "bench", "tests", "noxfile.py")


@nox.session
def envcheck(session: nox.Session) -> None:
    """Check the default environment's PyTorch install and write results/envcheck.json."""
    install_project(session, environments()[0])
    session.run("python", "-m", "envcheck", "--json", "results/envcheck.json", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark suite (quick by default) and write a report under results/."""
    install_project(session, environments()[0])
    session.run("python", "-m", "bench", "run", *(session.posargs or ["--suite", "quick"]))
