"""The journal: the plan first, then a line per finished run, fsynced; a torn last line is dropped."""

from __future__ import annotations

import dataclasses

import pytest

from bench.results.journal import Entry, Journal, JournalError
from tests.reports import run


@dataclasses.dataclass
class Plan:
    name: str


def test_entries_survive_and_a_torn_line_is_cut(tmp_path):
    path = tmp_path / "run.journal"
    journal = Journal.create(path, Plan("p"))
    journal.append(Entry("a", "case-1", run(0.01, 0)))
    journal.append(Entry("a", "case-1", run(0.01, 1)))
    with open(path, "a") as handle:
        handle.write('{"setup": "a", "case": "case-1", "rec')  # killed mid-write
    again, plan, entries = Journal.open(path, Plan)
    assert plan == Plan("p") and [e.record.index for e in entries] == [0, 1]
    again.append(Entry("a", "case-1", run(0.01, 2)))  # appends stay valid after the cut
    assert [e.record.index for e in Journal.open(path, Plan)[2]] == [0, 1, 2]


def test_create_never_overwrites(tmp_path):
    path = tmp_path / "run.journal"
    Journal.create(path, Plan("p"))
    with pytest.raises(FileExistsError):
        Journal.create(path, Plan("q"))


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty"),
    ('{"journal": 99}\n', "not a torchrig run journal"),
    ('{"journal": 2, "plan": {"name": 3}}\n', "$.plan.name: expected a string"),
    ('{"journal": 1, "plan": {"name": "q"}}\n', "not a torchrig run journal of version 2"),
])
def test_foreign_journals_are_refused(tmp_path, content, message):
    path = tmp_path / "x.journal"
    path.write_text(content)
    with pytest.raises(JournalError, match=message.replace("$", r"\$")):
        Journal.open(path, Plan)


def test_runs_are_scheduled_round_robin_and_setups_alternate(tmp_path):
    from bench.results.cases import Case
    from bench.results.report import Setup
    from bench.run.plan import Plan, SetupPlan
    from bench.run.request import InvocationRequest
    from tests.reports import ENVIRONMENT

    cases = [Case("mlp", "train", "eager", "fp32", size, "cpu") for size in (1, 2)]
    setups = [SetupPlan(Setup(label, "python"), ENVIRONMENT, "cpu", None, {}, []) for label in ("A", "B")]
    plan = Plan(InvocationRequest(runs=2, out=tmp_path), cases, setups, str(tmp_path), "now")
    order = [(setup.setup.label, case.batch_size, index) for setup, case, index in plan.slots()]
    assert order == [("A", 1, 0), ("B", 1, 0), ("B", 2, 0), ("A", 2, 0),  # run 1 of every case first, A B B A
                     ("B", 1, 1), ("A", 1, 1), ("A", 2, 1), ("B", 2, 1)]
    setups[1].skipped["mlp-train-eager-fp32-bs2-cpu"] = "not here"
    assert ("B", 2, 0) not in [(s.setup.label, c.batch_size, i) for s, c, i in plan.slots()]
