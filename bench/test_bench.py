"""The benchmark cases as pytest-benchmark benchmarks.

    pytest bench --bench-suite smoke --benchmark-json=out.json -k "cnn and amp-bf16"

Same protocol as `python -m bench run` (bench/measure/protocol.py): FLOPs, compile timed apart,
warm-up until steady, K steps per round; pytest-benchmark times the rounds with a
device-synchronising timer. One run per case, in this process.
"""

from __future__ import annotations

import pytest


def test_case(case, bench, benchmark):
    from bench.conftest import report_of
    from bench.measure.protocol import finish, prepared_step
    from bench.results.records import CaseRecord, Status
    from bench.results.report import record_json
    from bench.run.execute import job_options

    reason = bench.setup.skipped.get(case.key)
    if reason:
        pytest.skip(reason)
    plan = bench.plan
    rules = plan.request.rules
    with prepared_step(case, rules, job_options(plan)) as (step, clock, prepared):
        benchmark.group = case.group
        # pytest-benchmark reads its timer from this attribute; ours synchronises the device
        # so that each round ends when the GPU's work does, not when the launches do.
        benchmark._timer = clock.now
        benchmark.pedantic(step, iterations=prepared.steps, rounds=rules.rounds, warmup_rounds=0)
        round_s = [seconds * prepared.steps for seconds in benchmark.stats.stats.data]
        run = finish(step, prepared, round_s, None, clock)
    record = CaseRecord.from_runs(case, [run])
    bench.records[case.key] = record
    benchmark.extra_info.update(record_json(report_of(bench), record))
    assert record.status is Status.OK, record.reason
