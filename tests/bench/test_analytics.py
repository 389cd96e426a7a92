"""The forecast benchmark at a small size (bench/analytics.py; full size: `bootstrap.py bench
analytics`): from a workspace's third send the 90 % intervals cover near 90 % of realised rates,
where the naive binomial interval covers far less; the run is reproducible from its seed."""

from __future__ import annotations

from pathlib import Path

from bench.analytics import latency, run

from bench import analytics_import


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


async def test_the_import_benchmark_imports_everything_once(tmp_path: Path) -> None:
    results = await analytics_import.run(tmp_path, events=2000, contacts=300)
    assert results["events"] == 2000
    assert results["first"]["added"] + results["first"]["already"] == 2000  # a few repeat in the file
    assert results["first"]["added"] > 1500
    assert results["again"]["added"] == 0
    assert results["again"]["already"] == 2000


def test_the_forecast_latency_is_reported_per_history_size() -> None:
    found = latency(sizes=(5, 20), repeats=2)
    assert set(found) == {"5 sends", "20 sends"}
    assert all(0 < row["p50_ms"] <= row["max_ms"] for row in found.values())
