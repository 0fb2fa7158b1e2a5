"""The test-only slowdown a fleet test gives one node (TORCHRIG_FAULT 'NODE@GLOB=slow:F')."""

from __future__ import annotations

import pytest

from bench.measure import timing
from bench.measure.worker import fault_for, slowdown_of


def test_a_fault_can_name_the_node_it_applies_to():
    environ = {"TORCHRIG_FAULT": "n3@mlp-*=slow:0.5;cnn-*=raise", "SLURMD_NODENAME": "n3"}
    assert fault_for("mlp-train-eager-fp32-bs64-cpu", environ) == "slow:0.5"
    assert fault_for("cnn-train-eager-fp32-bs64-cpu", environ) == "raise"
    assert fault_for("mlp-train-eager-fp32-bs64-cpu", {**environ, "SLURMD_NODENAME": "n2"}) is None
    assert slowdown_of("slow:0.5") == 0.5 and slowdown_of("raise") == 0.0 and slowdown_of(None) == 0.0
    with pytest.raises(ValueError, match="0 < F < 100"):
        slowdown_of("slow:0")


def test_the_slowed_clock_makes_a_round_last_1_plus_f_times_its_work(monkeypatch):
    now = [0.0]

    class Fake:
        def now(self) -> float:
            return now[0]

    monkeypatch.setattr(timing.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    clock = timing.SlowedClock(Fake(), 0.5)

    def step() -> None:
        now[0] += 0.01

    assert timing.time_round(step, 10, clock) == pytest.approx(0.15)  # 0.1 s of work, half again
    assert timing.time_round(step, 10, clock) == pytest.approx(0.15)  # each round alike
