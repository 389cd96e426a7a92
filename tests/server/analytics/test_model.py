"""The forecast model: falls back to the industry anchors, learns an audience, shrinks a thin
history toward the workspace, and its recalibration widens or narrows intervals after outcomes."""

from __future__ import annotations

import math
import random

import pytest

from justmaily.server.analytics.model import Forecaster, Outcome
from justmaily.server.analytics.priors import ANCHORS
from justmaily.shared.analytics import Metric


def outcome(
    audience: str, recipients: int, opens: float, clicks: float = 0.03, unsubs: float = 0.002
) -> Outcome:
    return Outcome(
        audience,
        recipients,
        {
            Metric.OPENS: round(opens * recipients),
            Metric.CLICKS: round(clicks * recipients),
            Metric.UNSUBSCRIBES: round(unsubs * recipients),
        },
    )


def test_no_history_falls_back_to_the_industry_anchor_and_says_so() -> None:
    forecaster = Forecaster()
    for metric in Metric:
        interval = forecaster.forecast(metric, "list:a", 5000)
        assert interval.low < ANCHORS[metric].rate < interval.high
        assert interval.level == 0.9
        assert forecaster.predict(metric, "list:a", 5000).basis == "industry"
    assert forecaster.calibration_sends(Metric.OPENS) == 0


def test_an_audience_s_own_sends_move_the_estimate_and_narrow_the_interval() -> None:
    forecaster = Forecaster()
    before = forecaster.forecast(Metric.OPENS, "list:a", 5000)
    rng = random.Random(1)
    for _ in range(12):
        forecaster.observe(outcome("list:a", 5000, 0.40 + rng.gauss(0, 0.01)))
    after = forecaster.forecast(Metric.OPENS, "list:a", 5000)
    assert forecaster.predict(Metric.OPENS, "list:a", 5000).basis == "audience"
    assert after.estimate == pytest.approx(0.40, abs=0.01)
    assert after.low < 0.40 < after.high
    assert after.high - after.low < (before.high - before.low) / 3
    assert forecaster.audience_history("list:a") == (12, 60_000)
    assert forecaster.calibration_sends(Metric.OPENS) == 12


def test_one_send_is_shrunk_toward_the_anchor_and_a_new_audience_leans_on_the_workspace() -> None:
    forecaster = Forecaster()
    forecaster.observe(outcome("list:a", 2000, 0.50))
    own = forecaster.forecast(Metric.OPENS, "list:a", 2000)
    assert ANCHORS[Metric.OPENS].rate < own.estimate < 0.50
    other = forecaster.forecast(Metric.OPENS, "segment:b", 2000)
    assert forecaster.predict(Metric.OPENS, "segment:b", 2000).basis == "workspace"
    # Another audience may differ from this one by the segment spread: wider than its own.
    assert other.high - other.low > own.high - own.low


def test_interval_ends_are_rates_a_send_of_that_size_can_have() -> None:
    forecaster = Forecaster()
    interval = forecaster.forecast(Metric.UNSUBSCRIBES, "list:a", 300)
    for end in (interval.low, interval.high):
        assert math.isclose(end * 300, round(end * 300), abs_tol=1e-9)
    assert interval.low <= interval.estimate <= interval.high
    assert interval.low == 0.0  # 0 of 300 unsubscribing is well within a 0.26 % rate


def _half_width_after(sd: float) -> float:
    """Sends to one audience whose logit open rate varies by `sd` around 0.3."""
    rng = random.Random(7)
    forecaster = Forecaster()
    for _ in range(40):
        rate = 1 / (1 + math.exp(-(math.log(0.3 / 0.7) + rng.gauss(0, sd))))
        forecaster.observe(outcome("list:a", 20_000, rate))
    return forecaster.half_width(Metric.OPENS)


def test_recalibration_widens_after_misses_and_narrows_after_too_cautious_intervals() -> None:
    nominal = 1.6449
    # The campaign spread is estimated from the history too, so outcomes more variable than
    # any forecast so far still land outside it first: the scores widen the next interval.
    assert _half_width_after(0.9) > nominal
    # Outcomes that barely vary: the anchor's wide prior spread is too cautious for them.
    assert _half_width_after(0.0) < nominal


def test_with_no_scores_the_interval_is_the_model_s() -> None:
    forecaster = Forecaster()
    assert forecaster.half_width(Metric.CLICKS) == pytest.approx(1.6449, abs=1e-3)
    assert forecaster.forecast(Metric.CLICKS, "list:a", 800) == forecaster.model_interval(
        Metric.CLICKS, "list:a", 800
    )


def test_empty_sends_teach_nothing() -> None:
    forecaster = Forecaster()
    forecaster.observe(Outcome("list:a", 0, {}))
    assert forecaster.sends == 0
    assert forecaster.calibration_sends(Metric.OPENS) == 0


def test_replaying_a_long_history_scores_only_what_counts_and_forecasts_the_same() -> None:
    rng = random.Random(3)
    history = [outcome(f"list:{rng.randrange(3)}", 3000, 0.3 + rng.gauss(0, 0.03)) for _ in range(150)]
    one_by_one = Forecaster()
    for sent in history:
        one_by_one.observe(sent)
    replayed = Forecaster()
    replayed.observe_all(history)
    assert replayed.calibration_sends(Metric.OPENS) == 60  # older scores would weigh under 0.1 %
    for metric in Metric:
        assert replayed.forecast(metric, "list:1", 4000) == one_by_one.forecast(metric, "list:1", 4000)
