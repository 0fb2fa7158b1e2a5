"""pytest plumbing for the pytest-benchmark cases in bench/test_bench.py.

`pytest bench --bench-suite smoke --benchmark-json=out.json` writes the same report
layout as `python -m bench run` (minus the cases pytest skips, which pytest lists).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest

from bench import config
from bench.cases import expand


def pytest_addoption(parser):
    group = parser.getgroup("torchrig", "torchrig benchmark cases")
    group.addoption("--bench-suite", choices=config.SUITES, default="quick", help="suite to parametrize from")
    group.addoption("--bench-device", choices=config.DEVICES, default="auto", help="device to run on")


@dataclasses.dataclass
class BenchSession:
    suite: config.Suite
    device: str
    environment: dict
    checkpoint_dir: Path
    ceilings: dict | None = None


_SESSION: BenchSession | None = None


def bench_session(config_: pytest.Config) -> BenchSession:
    """One per pytest run: the environment snapshot is taken once."""
    global _SESSION
    if _SESSION is None:
        from bench.__main__ import resolve_device
        from bench.measure import settle_compile_workers
        from envcheck import snapshot

        settle_compile_workers()

        environment = snapshot()
        device = resolve_device(config_.getoption("--bench-device"), environment["facts"])
        _SESSION = BenchSession(config.SUITE_DEFS[config_.getoption("--bench-suite")], device, environment,
                                Path(tempfile.mkdtemp(prefix="torchrig-ckpt-")))
    return _SESSION


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        session = bench_session(metafunc.config)
        cases = expand(session.suite, session.device)
        metafunc.parametrize("case", cases, ids=[case.id for case in cases])


@pytest.fixture(scope="session")
def bench(request) -> BenchSession:
    return bench_session(request.config)


def pytest_benchmark_update_machine_info(config, machine_info):
    from bench.storage import device_name, machine_id

    session = bench_session(config)
    facts = session.environment["facts"]
    machine_info["torchrig"] = {"machine_id": machine_id(facts, session.device), "device": session.device,
                                "device_name": device_name(facts, session.device)}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    from bench.storage import SCHEMA_VERSION, TOOL

    session = bench_session(config)
    output_json["schema_version"] = SCHEMA_VERSION
    output_json["torchrig"] = {
        "tool": TOOL,
        "environment": session.environment,
        "run": {"suite": session.suite.name, "device": session.device, "argv": list(config.invocation_params.args),
                "cases_planned": len(benchmarks), "cases_finished": len(benchmarks), "interrupted": False,
                "wall_s": 0.0, "rules": dataclasses.asdict(session.suite.timing)},
        "ceilings": {"device": session.device, "tflops": session.ceilings or {}},
        "unmeasured": [],
    }
