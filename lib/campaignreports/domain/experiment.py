"""Treatment comparison for the experiment widget: lift, a two-sided test, and a winner.

Each treatment's open rate (distinct opens / delivered) and click rate (distinct clicks /
delivered) is compared with the control's by a two-sided two-proportion z-test (pooled
variance). The winner is decided on the click rate: the treatment with the best click rate
wins when it is significantly better than every other treatment. With k treatments that is
k - 1 comparisons, so each is held to 0.05 / (k - 1) (Bonferroni); with two treatments this is
the plain 95% test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CONFIDENCE = 0.95
# The metrics the comparison adds to each treatment row, with their units.
COMPARISON_UNITS: dict[str, str] = {
    "open_rate_lift": "fraction",
    "click_rate_lift": "fraction",
    "open_rate_p_value": "probability",
    "click_rate_p_value": "probability",
    "significant": "flag",
    "winner": "flag",
}
COMPARISON_METRICS: tuple[str, ...] = tuple(COMPARISON_UNITS)


@dataclass(frozen=True)
class Arm:
    treatment_id: str
    delivered: float
    distinct_opens: float
    distinct_clicks: float


@dataclass(frozen=True)
class Comparison:
    open_rate_lift: float
    click_rate_lift: float
    open_rate_p_value: float
    click_rate_p_value: float
    significant: bool  # the click-rate difference from the control, at the corrected level
    winner: bool

    def values(self) -> dict[str, float]:
        return {
            "open_rate_lift": self.open_rate_lift,
            "click_rate_lift": self.click_rate_lift,
            "open_rate_p_value": self.open_rate_p_value,
            "click_rate_p_value": self.click_rate_p_value,
            "significant": float(self.significant),
            "winner": float(self.winner),
        }


def _rate(successes: float, trials: float) -> float:
    return successes / trials if trials > 0 else 0.0


def two_proportion_p_value(successes_a: float, trials_a: float, successes_b: float, trials_b: float) -> float:
    """Two-sided p-value of the difference between two proportions; 1 when it cannot be tested."""
    if trials_a <= 0 or trials_b <= 0:
        return 1.0
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 1.0
    z = (_rate(successes_a, trials_a) - _rate(successes_b, trials_b)) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def _lift(rate: float, control_rate: float) -> float:
    return (rate - control_rate) / control_rate if control_rate > 0 else 0.0


def significance_level(treatments: int) -> float:
    return (1 - CONFIDENCE) / max(treatments - 1, 1)


def compare(arms: list[Arm], control_id: str) -> dict[str, Comparison]:
    """Every arm against the control (which must be one of them), and the winner if any."""
    control = next(a for a in arms if a.treatment_id == control_id)
    alpha = significance_level(len(arms))

    def click_p(a: Arm, b: Arm) -> float:
        return two_proportion_p_value(a.distinct_clicks, a.delivered, b.distinct_clicks, b.delivered)

    best = max(arms, key=lambda a: (_rate(a.distinct_clicks, a.delivered), a.treatment_id == control_id))
    best_wins = len(arms) > 1 and all(
        click_p(best, other) < alpha
        and _rate(best.distinct_clicks, best.delivered) > _rate(other.distinct_clicks, other.delivered)
        for other in arms
        if other is not best
    )
    results = {}
    for arm in arms:
        click_p_value = click_p(arm, control)
        results[arm.treatment_id] = Comparison(
            open_rate_lift=_lift(
                _rate(arm.distinct_opens, arm.delivered), _rate(control.distinct_opens, control.delivered)
            ),
            click_rate_lift=_lift(
                _rate(arm.distinct_clicks, arm.delivered), _rate(control.distinct_clicks, control.delivered)
            ),
            open_rate_p_value=two_proportion_p_value(
                arm.distinct_opens, arm.delivered, control.distinct_opens, control.delivered
            ),
            click_rate_p_value=click_p_value,
            significant=arm is not control and click_p_value < alpha,
            winner=best_wins and arm is best,
        )
    return results
