"""API latency and throughput of a real server process, on SQLite and on PostgreSQL.

Each backend gets a fresh database and a `justmaily serve --demo` process on loopback; a
client with a fixed number of connections sends a bounded number of requests per operation and
records each latency. Reported: median and p99 latency, requests per second, and the
PostgreSQL/SQLite ratio of medians. Results are written to bench/results/api-<time>.json.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from tests.support import pgcluster
from tests.support.server_process import ServerProcess, server_env

from bench.report import save
from justmaily.server.settings import Settings

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))


async def measure(name: str, call: Callable[[int], Awaitable[httpx.Response]]) -> dict[str, Any]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            response = await call(i)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                raise RuntimeError(f"{name}: {response.status_code} {response.text}")

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(worker())
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "operation": name,
        "requests": len(latencies),
        "median_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "per_second": round(len(latencies) / elapsed, 1),
    }


async def run_against(base: str, password: str) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        login = await client.post(
            "/api/auth/login", json={"email": "editor@demo.example.com", "password": password}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        results = [await measure("GET /health/live", lambda _i: client.get("/health/live"))]
        results.append(
            await measure(
                "POST /api/campaigns",
                lambda i: client.post(
                    "/api/campaigns", json={"name": f"Bench {i}", "subject": "Hello"}, headers=headers
                ),
            )
        )
        results.append(
            await measure(
                "GET /api/campaigns (50)",
                lambda _i: client.get("/api/campaigns", params={"limit": 50}, headers=headers),
            )
        )
        return results


def bench_backend(backend: str, database_url: str, workdir: Path) -> list[dict[str, Any]]:
    settings = Settings.of(database_url=database_url, data_dir=str(workdir / backend))
    env = server_env(
        settings,
        JUSTMAILY_RATE_LIMIT_PER_IP="1000000/minute",
        JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL="1000000/minute",
        JUSTMAILY_LOG_LEVEL="WARNING",
        JUSTMAILY_AUTO_MIGRATE="true",
    )
    server = ServerProcess(env, workdir / f"{backend}.log", args=("--demo",)).start()
    try:
        found = re.search(r"password (\S+):", server.log())
        assert found, server.log()
        return [{"backend": backend, **row} for row in asyncio.run(run_against(server.url, found.group(1)))]
    finally:
        server.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-") as tmp:
        workdir = Path(tmp)
        rows = bench_backend("sqlite", f"sqlite:///{workdir / 'bench.db'}", workdir)
        pg_root = Path(tempfile.mkdtemp(prefix="justmaily-bench-pg-"))
        try:
            rows += bench_backend("postgresql", pgcluster.start(pg_root), workdir)
        finally:
            pgcluster.stop(pg_root)
    print(f"{REQUESTS} requests per operation, {CONCURRENCY} connections, one server process, loopback")
    print(f"{'backend':<11} {'operation':<26} {'median ms':>10} {'p99 ms':>8} {'req/s':>8}")
    for row in rows:
        print(
            f"{row['backend']:<11} {row['operation']:<26} {row['median_ms']:>10} {row['p99_ms']:>8} "
            f"{row['per_second']:>8}"
        )
    by_op: dict[str, dict[str, float]] = {}
    for row in rows:
        by_op.setdefault(row["operation"], {})[row["backend"]] = row["median_ms"]
    for operation, medians in by_op.items():
        ratio = medians["postgresql"] / medians["sqlite"]
        print(f"ratio of medians postgresql/sqlite, {operation}: {ratio:.2f}")
    save("api", {"requests": REQUESTS, "concurrency": CONCURRENCY, "rows": rows})
    return 0
