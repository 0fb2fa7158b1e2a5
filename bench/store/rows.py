"""Rows from the typed report models: every value written to the database comes from a Report or an EnvReport
that was built (or loaded and checked) by its own model first, never from raw JSON keys.

The keys that make writing idempotent live here too: an invocation is the same invocation when its start, its
report's creation time, its hardware fingerprint and its setup are (``invocation_key``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

from bench.results.records import CaseRecord, RunRecord
from bench.results.report import Report
from bench.store.schema import DONE, INTERRUPTED
from envcheck.codec import to_jsonable
from envcheck.facts import Facts
from envcheck.fingerprint import Fingerprint
from envcheck.stamps import now_iso, parse_utc


def digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def utc_text(stamp: str) -> str:
    """An ISO 8601 time as UTC text to the second ('2026-11-30T10:00:00+00:00'), which sorts as time does on
    both back ends; a stamp that does not parse is kept as it is."""
    moment = parse_utc(stamp)
    return stamp if moment is None else moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


def invocation_key(report: Report) -> str:
    """The report's key: its invocation's start, its creation, its hardware and setup, and its invocation's id
    when it has one (nodes of one hardware started and ended in the same seconds are told apart by it; a report
    without an id keeps the key it had before ids)."""
    invocation = report.invocation
    parts = ["invocation", invocation.started, report.created, report.fingerprint.id, invocation.setup.label,
             invocation.label]
    return digest(*parts, invocation.id) if invocation.id else digest(*parts)


def start_key(report: Report) -> str:
    """The invocation's key as known when it starts (its report's creation time is not): its random id and its
    setup. A --resume of it, and its report imported later, find its row by this key. A report without an id
    (before revision 0003) is never streamed: its start key is its own invocation key's, which matches nothing else
    (migration 0003 computes the same for the rows stored before it)."""
    invocation = report.invocation
    if invocation.id:
        return digest("invocation-start", invocation.id, invocation.setup.label)
    return digest("invocation-report", invocation_key(report))


def machine_row(fingerprint: Fingerprint) -> dict[str, Any]:
    return {"fingerprint": fingerprint.id, "device": fingerprint.device, "device_name": fingerprint.name,
            "fields": [list(field) for field in fingerprint.fields]}


def software_row(facts: Facts) -> dict[str, Any]:
    torch = facts.torch
    row = {"python": f"{facts.python.implementation} {facts.python.version}",
           "torch": torch.version if torch else None,
           "cuda": torch.cuda_build if torch else None,
           "cudnn": str(torch.cudnn_version) if torch and torch.cudnn_version is not None else None,
           "driver": facts.nvml.driver_version if facts.nvml else None,
           "packages": dict(sorted((facts.packages or {}).items()))}
    return {"software_key": digest("software", row), **row}


def history_context(report: Report) -> dict[str, str]:
    """What a user sets on purpose for a series: the setup's environment variables (not the versions)."""
    return dict(sorted(report.invocation.setup.env.items()))


def history_row(case_key: str, fingerprint: str, context: dict[str, str]) -> dict[str, Any]:
    return {"history_key": digest("history", case_key, fingerprint, context), "case_key": case_key,
            "fingerprint": fingerprint, "context": context}


def state_of(report: Report) -> str:
    return INTERRUPTED if report.invocation.interrupted else DONE


def invocation_row(report: Report, kind: str, machine_id: int, software_id: int, blob: bytes,
                   state: str | None = None) -> dict[str, Any]:
    """``state``: the report's own (done or interrupted) unless given (running, at the start)."""
    invocation = report.invocation
    commit = report.pytest_benchmark.get("commit_info") or {}
    return {
        "invocation_key": invocation_key(report), "kind": kind, "machine_id": machine_id, "software_id": software_id,
        "hostname": report.environment.facts.system.hostname, "started": utc_text(invocation.started),
        "created": utc_text(report.created), "wall_s": invocation.wall_s, "suite": invocation.suite,
        "device": invocation.device, "label": invocation.label, "setup_label": invocation.setup.label,
        "argv": list(invocation.argv), "setup": to_jsonable(invocation.setup), "rules": to_jsonable(invocation.rules),
        "ceilings": to_jsonable(report.ceilings), "runs_planned": invocation.runs,
        "cases_planned": invocation.cases_planned, "cases_finished": invocation.cases_finished,
        "interrupted": invocation.interrupted,
        "git_commit": commit["id"] if isinstance(commit.get("id"), str) and commit["id"] != "unversioned" else None,
        "git_dirty": commit.get("dirty") if isinstance(commit.get("dirty"), bool) else None,
        "report": blob, "state": state or state_of(report), "start_key": start_key(report),
        "updated": utc_text(now_iso()),
    }


def case_row(record: CaseRecord, invocation_id: int, history_key: str) -> dict[str, Any]:
    workload = record.workload
    return {"invocation_id": invocation_id, "history_key": history_key, "case_key": record.key,
            "status": record.status.value, "reason": record.reason, "step_s": record.step_s,
            "items_per_s": record.items_per_s, "unit": workload.unit if workload else None,
            "run_spread_cv": record.run_spread, "noisy": record.noisy, "runs": len(record.runs)}


def run_row(record: CaseRecord, run: RunRecord, invocation_id: int) -> dict[str, Any]:
    return streamed_run_row(record.key, run, invocation_id)


def streamed_run_row(case_key: str, run: RunRecord, invocation_id: int) -> dict[str, Any]:
    """A run as it finishes (its case's record is made at the end, from every run)."""
    ok = bool(run.round_s and run.steps_per_round)
    return {"invocation_id": invocation_id, "case_key": case_key, "run_index": run.index,
            "status": run.status.value, "reason": run.reason, "step_s": run.step_s if ok else None,
            "steps_per_round": run.steps_per_round, "round_s": list(run.round_s), "noisy": run.noisy,
            "noise": to_jsonable(run.noise) if run.noise else None,
            "compile_s": run.compile.seconds if run.compile else None,
            "compile_cache": run.compile.cache if run.compile else None,
            "peak_memory_bytes": run.peak_memory_bytes, "memory_kind": run.memory_kind,
            "duration_s": run.duration_s}
