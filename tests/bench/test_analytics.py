"""The forecast benchmark at a small size (bench/analytics.py; full size: `bootstrap.py bench
analytics`): from a workspace's third send the 90 % intervals cover near 90 % of realised rates,
where the naive binomial interval covers far less; the run is reproducible from its seed."""

from __future__ import annotations

from bench.analytics import run


def test_recalibrated_intervals_cover_near_nominal_and_the_naive_ones_do_not() -> None:
    results = run(workspaces=80, sends=20, seed=3)
    table = results["table"]
    assert isinstance(table, dict)
    for metric in ("opens", "clicks"):
        ours = table[f"{metric}/3-20/recalibrated"]["coverage"]
        naive = table[f"{metric}/3-20/naive"]["coverage"]
        assert 0.85 <= ours <= 0.95, (metric, ours)
        assert naive < 0.6, (metric, naive)
    assert results == run(workspaces=80, sends=20, seed=3)
