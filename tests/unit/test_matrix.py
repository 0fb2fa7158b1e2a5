"""The environment matrix declared in pyproject.toml."""

from __future__ import annotations

import pytest

from bench.run.matrix import Environment, MatrixError, load_environments
from tests.conftest import ROOT


def test_the_projects_matrix_parses():
    envs = load_environments(ROOT / "pyproject.toml")
    names = [env.name for env in envs]
    assert names[-1] == "system" and envs[-1].system
    pinned = [env for env in envs if not env.system]
    assert len(pinned) >= 2 and len({env.torch for env in pinned}) == len(pinned)
    assert all(env.torch.startswith("2.") and env.torchvision.startswith("0.") for env in pinned)


def test_broken_entries_are_reported_and_the_valid_ones_kept(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('''
[[tool.torchrig.environments]]
name = "good"
torch = "2.14.1"
torchvision = "0.29.1"

[[tool.torchrig.environments]]
name = "no-vision"
torch = "2.11.0"

[[tool.torchrig.environments]]
torch = "2.10.0"
torchvision = "0.25.0"

[[tool.torchrig.environments]]
name = "good"
system = true

[[tool.torchrig.environments]]
name = "sys"
system = true
''')
    with pytest.raises(MatrixError) as error:
        load_environments(pyproject)
    message = str(error.value)
    assert "environment 'no-vision': needs torchvision" in message
    assert "entry 2 has no name" in message
    assert "environment 'good' is declared twice" in message
    assert error.value.valid == [Environment("good", "2.14.1", "0.29.1"), Environment("sys", system=True)]


def test_an_empty_matrix_is_an_error(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'x'\n")
    with pytest.raises(MatrixError, match="declares no"):
        load_environments(pyproject)


def test_tox_mirrors_the_matrix():
    import configparser

    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    pinned = [env for env in load_environments(ROOT / "pyproject.toml") if not env.system]
    for env in pinned:
        name = "bench-" + env.name.replace("-", "").replace(".", "")  # tox reads "2.14" as a Python version
        section = tox[f"testenv:{name}"]
        deps = section["deps"].split()
        assert deps == [f"torch=={env.torch}", f"torchvision=={env.torchvision}"]
        assert name in tox["tox"]["labels"]
        assert f"--label {env.name}" in section["commands"]


class FakeSession:
    """What noxfile's install helpers call on a nox session, recorded; commands whose program is in
    ``failing`` raise like nox does when a command fails."""

    def __init__(self, failing=()):
        self.calls, self.warnings, self.failing = [], [], set(failing)

    def run(self, *args, **_kwargs):
        self.calls.append(args)
        if args[0] in self.failing:
            import nox.command

            raise nox.command.CommandFailed(f"{args[0]} failed")

    def warn(self, message):
        self.warnings.append(message)


@pytest.fixture(scope="module")
def noxfile():
    """noxfile.py loaded once (nox registers its sessions globally and warns when a second load registers them
    again)."""
    pytest.importorskip("nox")
    import importlib.util

    spec = importlib.util.spec_from_file_location("torchrig_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_matrix_installs_use_uv_and_fall_back_to_pip(noxfile):
    by_uv = FakeSession()
    noxfile.pip_install(by_uv, "/env/bin/python", "/s/bin/uv", "torch==2.11.0")
    assert by_uv.calls == [("/s/bin/uv", "pip", "install", "--quiet", "--compile-bytecode", "--python",
                            "/env/bin/python", "torch==2.11.0")] and not by_uv.warnings

    uv_fails = FakeSession(failing={"/s/bin/uv"})
    noxfile.pip_install(uv_fails, "/env/bin/python", "/s/bin/uv", "-e", ".[llm]")
    assert [call[0] for call in uv_fails.calls] == ["/s/bin/uv", "/env/bin/python"]
    assert uv_fails.calls[1] == ("/env/bin/python", "-m", "pip", "install", "--quiet", "-e", ".[llm]")
    assert uv_fails.warnings == ["uv could not install -e .[llm]: trying pip"]

    no_uv = FakeSession()
    noxfile.pip_install(no_uv, "/env/bin/python", None, "torch==2.11.0")
    assert no_uv.calls == [("/env/bin/python", "-m", "pip", "install", "--quiet", "torch==2.11.0")]


def test_every_main_job_records_into_the_one_results_database_unless_told_otherwise(noxfile):
    assert noxfile.main_job_db(["--suite", "quick"], {}) == ["--db", str(ROOT / "results" / "torchrig.db")]
    assert noxfile.main_job_db(["--suite", "quick"], {"TORCHRIG_DB": "postgresql://db/x"}) == []
    assert noxfile.main_job_db(["--no-db"], {}) == [] and noxfile.main_job_db(["--db=/tmp/x.db"], {}) == []
    assert noxfile.main_job_db(["--db", "/tmp/x.db"], {}) == []
