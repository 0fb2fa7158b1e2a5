"""pytest plumbing for the pytest-benchmark cases in bench/test_bench.py.

`pytest bench --bench-suite smoke --benchmark-json=out.json` plans with the same function as
`python -m bench run` (bench.run.plan.make_plan: cases, skips, ceilings) and writes a report
that Report.load reads. Cases run in this process: for isolation use `python -m bench run`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest

from bench import config


def pytest_addoption(parser):
    group = parser.getgroup("torchrig", "torchrig benchmark cases")
    group.addoption("--bench-suite", choices=config.SUITES, default="quick", help="suite to parametrize from")
    group.addoption("--bench-device", choices=config.DEVICES, default="auto", help="device to run on")
    group.addoption("--bench-ceilings", default="", metavar="PRECISION=TFLOPS,...",
                    help="matmul ceilings for MFU instead of measuring them")


@dataclasses.dataclass
class BenchSession:
    plan: object  # bench.run.plan.Plan
    records: dict  # case key -> CaseRecord, as the cases finish

    @property
    def setup(self):
        return self.plan.setups[0]


_SESSION: BenchSession | None = None


class Quiet:
    def note(self, text: str) -> None:
        print(f"torchrig: {text}")


def bench_session(pytest_config: pytest.Config) -> BenchSession:
    """One plan per pytest run: the environment snapshot and ceilings are taken once."""
    global _SESSION
    if _SESSION is None:
        from bench.run.plan import make_plan
        from bench.run.process import Runner
        from bench.run.request import InvocationRequest

        work = Path(tempfile.mkdtemp(prefix="torchrig-pytest-"))
        from bench.cli import ceilings

        request = InvocationRequest(suite=pytest_config.getoption("--bench-suite"),
                             device=pytest_config.getoption("--bench-device"), out=work / "out",
                             ceilings=ceilings(pytest_config.getoption("--bench-ceilings")))
        _SESSION = BenchSession(make_plan(request, Runner(work, fork=False), Quiet()), {})
    return _SESSION


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = bench_session(metafunc.config).plan.cases
        metafunc.parametrize("case", cases, ids=[case.key for case in cases])


@pytest.fixture(scope="session")
def bench(request) -> BenchSession:
    return bench_session(request.config)


def report_of(session: BenchSession):
    from bench.results.records import CaseRecord, Status
    from bench.results.report import Report

    plan, setup = session.plan, session.setup
    records = [session.records.get(case.key) or CaseRecord(case, Status.SKIPPED, setup.skipped.get(case.key, "not run"))
               for case in plan.cases]
    info = plan.invocation(setup, finished=len(records), interrupted=False, wall_s=0.0, runs=1)
    return Report(setup.environment, info, setup.ceilings, records)


def pytest_benchmark_update_machine_info(config, machine_info):
    from bench.results.report import machine_info as torchrig_machine_info

    report = report_of(bench_session(config))
    machine_info["torchrig"] = torchrig_machine_info(report)["torchrig"]


def pytest_benchmark_update_json(config, benchmarks, output_json):
    from bench.results.report import SCHEMA_VERSION

    report = report_of(bench_session(config))
    output_json["schema_version"] = SCHEMA_VERSION
    output_json["torchrig"] = report.torchrig_block()
