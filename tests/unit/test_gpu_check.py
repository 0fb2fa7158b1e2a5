"""The GPU proof script: its target arithmetic on synthetic reports (its CPU fallback is an integration test)."""

from __future__ import annotations

import dataclasses

from bench.gpu_check import evaluate
from tests.reports import ENVIRONMENT, record, report

H200 = dataclasses.replace(ENVIRONMENT, facts=dataclasses.replace(ENVIRONMENT.facts, gpus=()))


def cuda(rate_items_per_s: float, batch: int, runs: int = 3, **fields):
    step = batch / rate_items_per_s
    steps = [step * (1 + 0.001 * (i - runs // 2)) for i in range(runs)]  # the median run is exactly ``step``
    made = record(steps, device="cuda", batch_size=batch, **fields)
    items = batch * made.case.spec.items_per_sample
    runs = [dataclasses.replace(run, workload=dataclasses.replace(run.workload, items_per_step=items), loss_end=0.5)
            for run in made.runs]
    return dataclasses.replace(made, runs=runs)


def quick():
    return report([
        cuda(1.0e6, 4096, backend="compile", precision="amp-bf16"),
        cuda(20_000, 64),
        cuda(30_000, 64, backend="compile-reduce-overhead"),
        cuda(4096 / 0.002, 4096, model="mlp-large", precision="amp-bf16"),
        cuda(4096 / 0.006, 4096, precision="amp-fp16"),
        cuda(4096 / 0.006, 4096, precision="tf32"),
    ], device="cuda")


def test_targets_from_reports():
    fastest = report([cuda(1.1e6, 8192, backend="compile-max-autotune", precision="amp-bf16", channels_last=True)],
                     device="cuda")
    aa = report([cuda(1.0e6, 4096, precision="amp-bf16", runs=5)], device="cuda")
    envcheck = {"counts": {"PASS": 30, "WARN": 1, "FAIL": 0, "SKIP": 2}, "checks": []}
    fidelity = [{"case": "a", "ratio": 1.004}, {"case": "b", "ratio": 0.99}, {"case": "c", "ratio": 1.0}]
    targets = {t.name.split()[0]: t for t in evaluate({"quick": quick(), "fastest": fastest, "aa": aa, "aa2": aa},
                                                       fidelity, envcheck, 250.0, 0)}
    assert targets["1"].passed
    assert targets["2a"].passed and targets["2a"].measured == "1.000 M images/s"
    assert targets["2b"].passed and targets["2b"].measured == "1.100 M images/s"
    assert targets["3"].passed and targets["3"].measured == "1.50x"
    # mlp-large: 1e9 FLOP per step / 2 ms = 0.5 TFLOP/s against a bf16 ceiling of 2.0: 25 %
    assert targets["4"].passed is False and targets["4"].measured == "25.0 %"
    assert targets["5"].passed and targets["6"].passed and targets["7"].passed
    assert targets["10"].passed and "missing: []" in targets["10"].measured


def test_a_loss_that_does_not_fall_misses_target_10():
    stuck = cuda(4096 / 0.006, 4096, precision="tf32")
    stuck = dataclasses.replace(stuck, runs=[dataclasses.replace(run, loss_end=run.loss_start + 0.1)
                                             for run in stuck.runs])
    targets = {t.name.split()[0]: t for t in evaluate({"quick": report([stuck], device="cuda")}, [], None, None, None)}
    assert targets["10"].passed is False
    assert "not decreasing: ['tf32']" in targets["10"].measured


def test_missing_measurements_are_not_passes():
    targets = evaluate({"quick": report([], device="cuda")}, [], None, None, None)
    assert all(t.passed is None for t in targets)
