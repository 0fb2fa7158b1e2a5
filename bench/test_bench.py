"""The benchmark cases as pytest-benchmark benchmarks.

    pytest bench --bench-suite smoke --benchmark-json=out.json -k "cnn and amp-bf16"

Same protocol as `python -m bench run` (bench/measure.py): FLOPs, compile timed
apart, warm-up until steady, K steps per round; pytest-benchmark times the rounds
with a device-synchronising timer. Cases run in this process: for isolation from
crashes and hangs use `python -m bench run`.
"""

from __future__ import annotations

import pytest

from bench.cases import DeviceCaps, unsupported_reason


def test_case(case, bench, benchmark):
    from bench.measure import CaseRun
    from bench.storage import derived_metrics
    from bench.worker import WorkerSettings, checkpoint_for, measure_ceilings

    caps = DeviceCaps(bench.device, tuple(bench.environment["facts"]["gpus"][0]["capability"])
                      if bench.device == "cuda" else None)
    reason = unsupported_reason(case, caps)
    if reason:
        pytest.skip(reason)
    rules = bench.suite.timing
    if bench.ceilings is None:
        bench.ceilings = {}
    if case.precision not in bench.ceilings:
        bench.ceilings.update(measure_ceilings(case.device, [case.precision]))
    settings = WorkerSettings(rules, None, bench.checkpoint_dir)
    run = CaseRun(case, rules, checkpoint_for(case, settings))
    steps = run.prepare()
    benchmark.group = case.group
    # pytest-benchmark reads its timer from this attribute; ours synchronises the device
    # so that each round ends when the GPU's work does, not when the launches do.
    benchmark._timer = run.clock.now
    benchmark.pedantic(run.step, iterations=steps, rounds=rules.rounds, warmup_rounds=0)
    result = run.finish([seconds * steps for seconds in benchmark.stats.stats.data])
    benchmark.extra_info.update({**result.as_dict(), **derived_metrics(result, bench.ceilings, rules)})
    assert result.status == "ok", result.reason
