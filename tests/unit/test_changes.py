"""Change points in history series (bench/analysis/changes.py), at the settings of bench/config.py
(max_pvalue 1e-4, min_segment 5, penalty 3 sigma^2 log n): a real step is found where it is, and pure noise
rarely shows one. Seeded, so each figure below is what these exact series give."""

from __future__ import annotations

import math

import numpy
import pytest

from bench.analysis.changes import ChangeSettings, change_points, noise_sd


def noisy(rng, level: float, count: int, cv: float = 0.02) -> list[float]:
    return list(level * (1 + rng.normal(0, cv, count)))


def log(values: list[float]) -> list[float]:
    return [math.log(v) for v in values]


def test_a_4_percent_step_after_30_invocations_in_2_percent_noise_is_found_within_5():
    rng = numpy.random.default_rng(2026)
    distances, magnitudes = [], []
    for _ in range(100):
        found = change_points(log(noisy(rng, 1.0, 30) + noisy(rng, 1.04, 30)))
        assert found, "a 4 % step in 2 % noise was missed"
        nearest = min(found, key=lambda c: abs(c.index - 30))
        distances.append(abs(nearest.index - 30))
        magnitudes.append(nearest.magnitude)
    assert sum(d <= 5 for d in distances) >= 97  # measured: 99 of these 100 series; the other is 6 off
    low, median, high = numpy.percentile(magnitudes, [5, 50, 95])  # measured: 2.8 %, 4.0 %, 5.0 %
    assert median == pytest.approx(0.04, abs=0.003) and 0.02 < low and high < 0.06


def test_the_change_point_of_one_series_is_where_the_step_is():
    rng = numpy.random.default_rng(7)
    (change,) = change_points(log(noisy(rng, 0.010, 30) + noisy(rng, 0.0104, 30)))
    assert abs(change.index - 30) <= 5 and change.pvalue < 1e-4 and change.after > change.before


def test_pure_noise_rarely_shows_a_change_point():
    rng = numpy.random.default_rng(11)
    false = sum(bool(change_points(log(noisy(rng, 1.0, 60)))) for _ in range(200))
    assert false <= 10  # at most 5 % of 200 series; measured: 2 of these 200 (1 %; 0.6 % over 500 others)


def test_a_faster_step_has_a_negative_magnitude_and_two_steps_are_both_found():
    rng = numpy.random.default_rng(5)
    series = log(noisy(rng, 1.0, 25, 0.005) + noisy(rng, 0.9, 25, 0.005) + noisy(rng, 0.95, 25, 0.005))
    found = change_points(series)
    assert [c.index for c in found] == [25, 50]
    assert found[0].magnitude == pytest.approx(-0.10, abs=0.01)
    assert found[1].magnitude == pytest.approx(0.0556, abs=0.01)


def test_short_or_flat_series_have_no_change_point_and_settings_are_checked():
    assert change_points([0.0] * 9) == [] and change_points([1.0] * 40) == []
    assert noise_sd([1.0, 1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="max_pvalue"):
        ChangeSettings(max_pvalue=0)
    with pytest.raises(ValueError, match="min_segment"):
        ChangeSettings(min_segment=1)


def test_noise_sd_is_scipys_normal_scaled_mad_of_the_differences_over_root_two():
    from scipy.stats import median_abs_deviation

    rng = numpy.random.default_rng(3)
    for count in (2, 3, 10, 101):
        values = list(rng.normal(0, 0.02, count))
        expected = float(median_abs_deviation(numpy.diff(values), scale="normal")) / math.sqrt(2)
        assert noise_sd(values) == pytest.approx(expected, rel=1e-12)
