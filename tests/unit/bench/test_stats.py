"""Median and spread of a few runs."""

from __future__ import annotations

import pytest

from deployer.bench.stats import Summary, fmt_range, summarize


def test_median_and_range_of_three_runs() -> None:
    s = summarize([42.0, 39.8, 41.2])
    assert s == Summary(3, 41.2, 39.8, 42.0)
    assert s.q1 is None  # no quartiles from three values
    assert s.spread == pytest.approx((42.0 - 39.8) / 41.2)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two_and_quartiles_stay_in_range() -> None:
    s = summarize([10, 40, 20, 30])
    assert s is not None
    assert (s.median, s.min, s.max) == (25.0, 10.0, 40.0)
    assert s.q1 is not None and s.q3 is not None
    assert 10.0 <= s.q1 <= s.median <= s.q3 <= 40.0


def test_one_slow_outlier_does_not_move_the_median() -> None:
    s = summarize([80.0, 81.0, 12.0, 79.0, 80.5])
    assert s is not None and s.median == 80.0 and s.min == 12.0


def test_nothing_to_summarize() -> None:
    assert summarize([]) is None
    assert fmt_range(None) == "-"


def test_round_trip_and_text() -> None:
    s = summarize([1.23456, 2.5, 3.0])
    assert s is not None
    assert Summary.from_data(s.to_data(2)).median == 2.5
    assert fmt_range(s, " tok/s") == "2.5 tok/s (1.2-3.0)"
    assert fmt_range(summarize([7.0])) == "7.0"
