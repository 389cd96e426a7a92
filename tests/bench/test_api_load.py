"""The REST load benchmark at a tiny size: a real server and bare Litestar, every operation of the
mix reported with no errors, by wrk and by the Python fallback (bench/api_load.py; full size:
`python3 bootstrap.py bench api-load`)."""

from __future__ import annotations

import shutil

import pytest
from bench.api_load import OPERATIONS, Options, run, table

COLUMNS = {"operation", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms"}


@pytest.mark.parametrize("generator", ["wrk", "python"])
def test_every_operation_runs_without_errors_and_is_reported(generator: str) -> None:
    if generator == "wrk":
        assert shutil.which("wrk"), "wrk is not installed: apt-get install wrk"
    # The Python generator drives only the mix (each operation alone is wrk's, and slow to start
    # in processes of Python's). At 10 requests per second per user, even sign-in (a tenth of it)
    # sends within the mix's 2 s.
    options = Options(
        campaigns=300,
        rate=10,
        mix_seconds=2,
        alone_seconds=1 if generator == "wrk" else 0,
        health_seconds=1,
        alone_connections=2,
        generator=generator,
    )

    results = run(options, {"this": options.tree}, repeat=1)

    assert results["generator"] == generator
    result = results["results"]["sqlite/this"]
    names = [op.name for op in OPERATIONS]
    for phase in ("mix", "alone") if generator == "wrk" else ("mix",):
        assert [row["operation"] for row in result[phase]] == names
        for row in result[phase]:
            assert set(row) >= COLUMNS, row
            assert row["errors"] == 0, (phase, row)
            assert row["requests"] > 0, (phase, row)
            assert 0 < row["p50 ms"] <= row["max ms"], (phase, row)
    assert all(row["server CPU ms/req"] > 0 for row in result["alone"])
    assert result["mix server CPU ms/req"] > 0
    health = result["health"]
    assert health["errors"] == 0
    assert health["justmaily req/s"] > 0
    assert health["bare req/s"] > 0
    assert health["justmaily/bare req/s"] > 0
    printed = table("sqlite/this", result)
    for name in names:
        assert name in printed
