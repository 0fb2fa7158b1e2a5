"""A results database for the site's tests, filled through the real paths: report and envcheck JSON files imported
by `bench db import`, validate's verdicts recorded as validate records them (bench.store.recorder).

- node-a alone on its hardware (the fixture's CPU): 12 daily invocations; torch 2.11 for six, then torch 2.14 with
  the cnn case 10 % slower (a change point there), the mlp case unchanged;
- node-b, node-c, node-d on a second fingerprint ("Fleet CPU"), two invocations each; node-d 25 % slower on both
  cases (the heat map's outlier); node-b also ran a two-setup matrix invocation; node-b healthy, node-d degraded;
- a node whose host name, CPU model, setup label, environment variable and envcheck text carry markup and
  script (``INJECTIONS``): the site must show them as text and run none of them.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from bench.results.report import Report
from envcheck.checks import CheckOptions
from envcheck.files import json_text
from envcheck.records import passed, warned
from envcheck.report import EnvReport
from tests import reports

SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
ATTRIBUTE = "\"><img src=x onerror=\"window.__pwned = 2\">"
CLOSING = "</script><script>window.__pwned = 3</script>"
INJECTIONS = (SCRIPT, ATTRIBUTE, CLOSING)
EVIL_HOST = "evil" + SCRIPT
CASES = ({"model": "cnn", "batch_size": 64}, {"model": "mlp", "batch_size": 32})
FLEET = ("node-b", "node-c", "node-d")
NODES = ("node-a", *FLEET, EVIL_HOST)


def environment(host: str, torch: str = "2.14.1", cpu: str | None = None):
    facts = reports.ENVIRONMENT.facts
    changed = dataclasses.replace(facts, system=dataclasses.replace(facts.system, hostname=host),
                                  torch=dataclasses.replace(facts.torch, version=torch),
                                  cpu=dataclasses.replace(facts.cpu, model=cpu or facts.cpu.model))
    return dataclasses.replace(reports.ENVIRONMENT, facts=changed)


def invocation(host: str, started: str, steps: dict[str, float], *, torch: str = "2.14.1", cpu: str | None = None,
               label: str | None = None, env: dict | None = None, seed: int = 0) -> Report:
    """One report: each case measured in five runs around its step time (0.5 % apart)."""
    rng = random.Random(seed)
    records = []
    for fields in CASES:
        step = steps[fields["model"]] * (1 + rng.uniform(-0.005, 0.005))  # between invocations
        records.append(reports.record([step * (1 + 0.002 * (i - 2)) for i in range(5)], **fields))
    return reports.report(records, label=label, env=env, environment=environment(host, torch, cpu), started=started)


def day(number: int, hour: int = 10) -> str:
    return f"2026-11-{number:02d}T{hour:02d}:00:00+00:00"


def fixture_reports() -> list[Report]:
    found = []
    for number in range(1, 13):
        later = number > 6
        found.append(invocation("node-a", day(number), {"cnn": 0.011 if later else 0.010, "mlp": 0.002},
                                torch="2.14.1" if later else "2.11.0", seed=number))
    for index, host in enumerate(FLEET):
        slow = 1.25 if host == "node-d" else 1.0
        for number in (10, 11):
            found.append(invocation(host, day(number, 12 + index), {"cnn": 0.020 * slow, "mlp": 0.004 * slow},
                                    cpu="Fleet CPU", seed=100 * index + number))
    for number in (10, 11):
        found.append(invocation(EVIL_HOST, day(number, 9), {"cnn": 0.03, "mlp": 0.006}, cpu="GPU " + SCRIPT,
                                label=ATTRIBUTE, env={"EVIL": CLOSING}, seed=900 + number))
    return found


def matrix_reports() -> list[Report]:
    """One invocation of node-b with two setups (interleaved: the same start)."""
    return [invocation("node-b", day(12, 8), {"cnn": 0.020 * speed, "mlp": 0.004}, cpu="Fleet CPU", label=label,
                       env=env, seed=seed, torch=torch)
            for label, env, speed, seed, torch in (("torch-2.11", {}, 1.0, 1, "2.11.0"),
                                                   ("torch-2.14", {"OMP_NUM_THREADS": "1"}, 1.3, 2, "2.14.1"))]


def envcheck_reports() -> list[EnvReport]:
    fleet = environment("node-b", cpu="Fleet CPU").facts
    evil = environment(EVIL_HOST, cpu="GPU " + SCRIPT).facts
    return [EnvReport(fleet, (passed("torch import", "2.14.1"),), CheckOptions(), day(12, 7)),
            EnvReport(evil, (warned("cuda", "driver says " + SCRIPT, "fix " + ATTRIBUTE),), CheckOptions(),
                      day(11, 7))]


def verdict_reports() -> list[tuple[Report, str]]:
    """validate's invocations with the verdicts it recorded (an hour apart: the store's invocation key holds the
    start, the fingerprint and the labels, not the host, so two nodes of one fingerprint starting in the same second
    would be taken for one invocation)."""
    return [(invocation("node-b", day(12, 20), {"cnn": 0.020, "mlp": 0.004}, cpu="Fleet CPU", seed=7), "healthy"),
            (invocation("node-d", day(12, 21), {"cnn": 0.025, "mlp": 0.005}, cpu="Fleet CPU", seed=8), "degraded")]


def write_files(folder: Path, found: list) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, report in enumerate(found):
        path = folder / f"{index:03d}.json"
        data = report.as_dict() if isinstance(report, EnvReport) else report.to_json()
        path.write_text(json_text(data) if not isinstance(report, EnvReport) else json.dumps(data))
        paths.append(path)
    return paths


def fill(db: Path, work: Path) -> None:
    """Import every fixture file with `bench db import` and record the verdicts as validate does."""
    from bench.__main__ import main
    from bench.store.database import open_engine, resolve_url
    from bench.store.recorder import Verdict, write_verdict
    from bench.store.writer import write_report

    write_files(work / "reports", fixture_reports() + matrix_reports())
    write_files(work / "envcheck", envcheck_reports())
    assert main(["db", "import", str(work / "reports"), str(work / "envcheck"), "--db", str(db)]) == 0
    validated = [(report, path) for (report, _), path in
                 zip(verdict_reports(), write_files(work / "validate", [r for r, _ in verdict_reports()]), strict=True)]
    engine = open_engine(resolve_url(str(db)))
    for (report, path), (_, name) in zip(validated, verdict_reports(), strict=True):
        with engine.begin() as connection:  # as validate completes its streamed invocation
            written = write_report(connection, report, kind="validate", text=path.read_text(encoding="utf-8"))
            assert written.stored
            write_verdict(connection, written.invocation_key,
                          Verdict(name, 0 if name == "healthy" else 3, f"validate: {name.upper()} {SCRIPT}"))
    engine.dispose()
