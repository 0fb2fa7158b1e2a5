"""Every derived figure has one home: throughput in the records (ranks included), speed-up, break-even,
scaling efficiency and MFU in the report; renderers and compare read them. Known answers on synthetic reports."""

from __future__ import annotations

import dataclasses

import pytest

from bench.analysis.compare import compare_reports
from bench.render.run import summary_rows
from bench.results.records import CaseRecord
from tests.reports import case, record, report, run


def ddp_record(step_s: float, rank_steps: tuple[float, float], runs: int = 3) -> CaseRecord:
    """A two-rank data-parallel case whose ranks step at ``rank_steps`` (64 samples a rank a step)."""
    made = [dataclasses.replace(run(step_s, i), rank_step_s=list(rank_steps)) for i in range(runs)]
    return CaseRecord.from_runs(case(world_size=2, dist_backend="gloo"), made)


def test_a_data_parallel_run_counts_every_rank():
    ddp = ddp_record(0.02, (0.02, 0.04))
    assert ddp.runs[0].items_per_s == pytest.approx(64 / 0.02 + 64 / 0.04)
    assert ddp.items_per_s == pytest.approx(64 / 0.02 + 64 / 0.04)


def test_a_data_parallel_comparison_shows_the_base_throughput_of_all_ranks():
    base, new = report([ddp_record(0.02, (0.02, 0.02))]), report([ddp_record(0.02, (0.02, 0.02))])
    compared = compare_reports(base, new).cases[0]
    assert compared.base_items_per_s == pytest.approx(2 * 64 / 0.02)  # not one rank's 3,200
    assert compared.new_items_per_s == pytest.approx(compared.base_items_per_s)


def test_speedup_break_even_and_mfu_come_from_the_report():
    eager = record([0.010] * 3)
    compiled = CaseRecord.from_runs(case(backend="compile"), [run(0.005, i, compile_s=2.0) for i in range(3)])
    made = report([eager, compiled])
    assert made.speedup(compiled) == pytest.approx(2.0)
    assert made.speedup(eager) is None  # the reference itself
    assert made.break_even(compiled) == 400  # 2 s / (10 ms - 5 ms)
    assert made.break_even(eager) is None
    # 1e9 FLOP a step / 5 ms = 0.2 TFLOP/s against the fixture's fp32 ceiling of 1.0
    assert made.mfu(compiled) == pytest.approx(0.2)
    row = next(r for r in summary_rows(made) if "compile" in r.case)
    assert (row.speedup, row.break_even, row.mfu) == (made.speedup(compiled), 400, made.mfu(compiled))


def test_compiling_that_does_not_pay_never_breaks_even():
    eager = record([0.005] * 3)
    slower = CaseRecord.from_runs(case(backend="compile"), [run(0.006, i, compile_s=2.0) for i in range(3)])
    assert report([eager, slower]).break_even(slower) == "never"


def test_scaling_efficiency_is_global_throughput_over_world_size_times_one_process():
    single = record([0.02] * 3)
    ddp = ddp_record(0.025, (0.025, 0.025))
    made = report([single, ddp])
    assert made.scaling_efficiency(ddp) == pytest.approx((2 * 64 / 0.025) / (2 * 64 / 0.02))
    assert made.scaling_efficiency(single) is None
