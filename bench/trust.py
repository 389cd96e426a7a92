"""The transparency log: appends per second, and proof time as the log grows to 1,000,000 entries.

One embedded SQLite database (the default deployment), migrated as the server does. Appends are
measured one per transaction (as approvals append) and in batches of 1,000 (as a bulk import of
history would). At each size, inclusion and consistency proofs are generated from the database
and verified with the offline verifier (`shared/verify/transparency.py`): medians over random entries.
They must grow as log n: the report gives each size's time over the smallest size's.
Sizes: BENCH_LOG_SIZES (comma-separated, default "1000,10000,100000,1000000").
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import save
from justmaily.server.db.engine import Database
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.settings import Settings
from justmaily.server.trust import log
from justmaily.shared.trust import EntryKind
from justmaily.shared.verify import transparency

SIZES = [int(n) for n in os.environ.get("BENCH_LOG_SIZES", "1000,10000,100000,1000000").split(",")]
SAMPLES = 200
BATCH = 1000


def record(n: int) -> log.Record:
    return log.Record(EntryKind.SEND, {"send": n, "root": "x" * 44, "messages": 1000})


async def grow_to(database: Database, target: int) -> None:
    async with database.session() as session:
        current = await log.size(session)
    while current < target:
        count = min(BATCH, target - current)
        async with database.session() as session, session.begin():
            await log.append_many(session, [record(current + i) for i in range(count)])
        current += count


async def appends_per_second(database: Database) -> dict[str, float]:
    started = time.perf_counter()
    for n in range(500):
        async with database.session() as session, session.begin():
            await log.append(session, record(n))
    single = 500 / (time.perf_counter() - started)
    started = time.perf_counter()
    await grow_to(database, 500 + 20 * BATCH)
    batched = 20 * BATCH / (time.perf_counter() - started)
    return {"one_per_transaction": round(single), "batches_of_1000": round(batched)}


async def proofs_at(database: Database, size: int) -> dict[str, Any]:
    rng = random.Random(size)
    async with database.session(read_only=True) as session:
        root = await log.root(session, size)
        inclusion_ms, verify_inclusion_ms, consistency_ms, verify_consistency_ms = [], [], [], []
        leaves = {}
        for _ in range(SAMPLES):
            index = rng.randrange(size)
            entry = await log.entry(session, index)
            assert entry is not None
            leaves[index] = transparency.leaf_hash(entry.leaf)
            started = time.perf_counter()
            proof = await log.inclusion(session, index, size)
            inclusion_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            verdict = transparency.verify_inclusion(leaves[index], index, size, proof, root)
            verify_inclusion_ms.append((time.perf_counter() - started) * 1000)
            assert verdict, verdict.reason

            first = rng.randrange(1, size + 1)
            first_root = await log.root(session, first)
            started = time.perf_counter()
            proof = await log.consistency(session, first, size)
            consistency_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            verdict = transparency.verify_consistency(first, size, first_root, root, proof)
            verify_consistency_ms.append((time.perf_counter() - started) * 1000)
            assert verdict, verdict.reason
    return {
        "size": size,
        "inclusion_proof_ms": round(statistics.median(inclusion_ms), 3),
        "inclusion_verify_ms": round(statistics.median(verify_inclusion_ms), 4),
        "consistency_proof_ms": round(statistics.median(consistency_ms), 3),
        "consistency_verify_ms": round(statistics.median(verify_consistency_ms), 4),
        "proof_hashes": len(proof),
    }


async def run(workdir: Path) -> dict[str, Any]:
    settings = Settings.of(database_url=f"sqlite:///{workdir / 'log.db'}", data_dir=str(workdir))
    database = Database(settings)
    try:
        await upgrade_to_head(database.engine)
        results: dict[str, Any] = {"appends_per_second": await appends_per_second(database), "sizes": []}
        print(json.dumps(results["appends_per_second"]))
        for size in SIZES:
            started = time.perf_counter()
            await grow_to(database, size)
            grown = time.perf_counter() - started
            at = await proofs_at(database, size)
            at["grow_seconds"] = round(grown, 1)
            print(json.dumps(at))
            results["sizes"].append(at)
        smallest = results["sizes"][0]
        for at in results["sizes"]:
            at["inclusion_ratio_to_smallest"] = round(
                at["inclusion_proof_ms"] / smallest["inclusion_proof_ms"], 2
            )
        results["database_mib"] = round((workdir / "log.db").stat().st_size / 2**20, 1)
        return results
    finally:
        await database.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-trust-") as tmp:
        results = asyncio.run(run(Path(tmp)))
    print(json.dumps(results, indent=2))
    save("trust", results)
    return 0
