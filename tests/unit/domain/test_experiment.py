"""Experiment statistics: lift, two-sided p-values, a winner only when significant."""

from __future__ import annotations

import pytest

from campaignreports.domain.experiment import Arm, compare, significance_level, two_proportion_p_value


def test_p_value_of_a_known_difference() -> None:
    # 200/1000 vs 150/1000: z = 2.94 (pooled), two-sided p = 0.0033.
    assert two_proportion_p_value(200, 1000, 150, 1000) == pytest.approx(0.00326, abs=5e-5)
    assert two_proportion_p_value(0, 0, 1, 10) == 1.0
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0


def test_clear_difference_names_a_winner_and_lift() -> None:
    result = compare([Arm("a", 1000, 300, 100), Arm("b", 1000, 350, 200)], "a")
    assert result["b"].winner and not result["a"].winner
    assert result["b"].click_rate_lift == pytest.approx(1.0)
    assert result["b"].significant
    assert result["a"].click_rate_p_value == 1.0


def test_no_winner_on_an_a_a_test() -> None:
    result = compare([Arm("a", 1000, 300, 100), Arm("b", 1000, 305, 104)], "a")
    assert not any(c.winner for c in result.values())


def test_more_treatments_need_stronger_evidence() -> None:
    assert significance_level(2) == pytest.approx(0.05)
    assert significance_level(3) == pytest.approx(0.025)
    # 243/2000 vs 200/2000: p = 0.030, significant alone, not after the correction for three arms.
    a, b = Arm("a", 2000, 0, 200), Arm("b", 2000, 0, 243)
    assert compare([a, b], "a")["b"].winner
    three = compare([a, b, Arm("c", 2000, 0, 201)], "a")
    assert not any(c.winner for c in three.values())
    assert not three["b"].significant
    assert three["b"].click_rate_p_value == pytest.approx(0.0303, abs=1e-4)


def test_the_control_can_win() -> None:
    result = compare([Arm("a", 1000, 0, 300), Arm("b", 1000, 0, 100)], "a")
    assert result["a"].winner
