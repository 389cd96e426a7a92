"""The agent mesh: analyses per second per agent kind, and how long after a pause in typing the
agents' verdicts show in another editor (docs/mesh.md).

1. Each kind's analysis of a realistic newsletter, alone (the kind's own cost) and through the
   engine with one in-process agent (adding the worker thread, the timeout and the checks).
2. A real server process (embedded SQLite) and two room clients: one types a sentence and pauses,
   the other waits for verdicts about exactly that text; BENCH_MESH_ROUNDS rounds (default 30),
   at the default debounce (1 s) unless JUSTMAILY_MESH_DEBOUNCE_SECONDS says otherwise.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pycrdt import Doc, Map, Text
from tests.plugins.api import seed_team_into
from tests.support.server_process import ServerProcess, server_env

from bench.report import save
from justmaily.desktop.engine.room_client import RoomClient
from justmaily.server.db.engine import Database
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.keys.files import ed25519_key
from justmaily.server.mesh.agents.catalogue import KINDS
from justmaily.server.mesh.agents.email import Email
from justmaily.server.mesh.engine import Engine, InProcessAgent
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.settings import Settings
from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import content_hash
from justmaily.shared.mesh import MESH_INSIGHTS
from justmaily.shared.roles import Role

ROUNDS = int(os.environ.get("BENCH_MESH_ROUNDS", "30"))
SECONDS_PER_KIND = float(os.environ.get("BENCH_MESH_SECONDS", "2"))
NEWSLETTER = {
    "subject": "Your December garden notes",
    "preheader": "Frost is coming: three jobs for this weekend",
    "sender": "Greenfingers <notes@greenfingers.example>",
    "body": "# December in the garden\n\nHello {{ first_name | default('gardener') }},\n\n"
    + (
        "Frost arrives early this year. Wrap your potted olive trees in fleece, lift the dahlias "
        "before the ground freezes, and give the birds fresh water every morning. "
        "Read [our winter planting guide](https://greenfingers.example/guides/winter).\n\n"
    )
    * 12,
}


def _emails(count: int) -> list[Email]:
    """Distinct e-mails (textstat and the HTML reader cache by text: a repeated one is free)."""
    return [
        Email.of({**NEWSLETTER, "body": f"{NEWSLETTER['body']}Issue {n}.\n"}, frozenset())
        for n in range(count)
    ]


def _rate(run: Any, emails: list[Email]) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS_PER_KIND:
        run(emails[count % len(emails)])
        count += 1
    return count / (time.perf_counter() - started)


async def analyses_per_second() -> dict[str, dict[str, float]]:
    emails = _emails(2000)
    results: dict[str, dict[str, float]] = {}
    for kind, spec in KINDS.items():
        spec.analyse(emails[-1])  # loads what the kind loads once (dictionaries, models)
        alone = _rate(spec.analyse, emails)
        engine = Engine()
        engine.add(InProcessAgent(kind))
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < SECONDS_PER_KIND:
            await engine.analyse(kind, emails[count % len(emails)], "bench")
            count += 1
        results[str(kind)] = {
            "alone_per_second": round(alone, 1),
            "engine_per_second": round(count / (time.perf_counter() - started), 1),
        }
        print(str(kind), json.dumps(results[str(kind)]))
    return results


def _has(doc: Doc[Any], typed: str) -> bool:
    return typed in str(doc.get("body", type=Text))


def _current(doc: Doc[Any]) -> bool:
    found = doc.get(INSIGHTS, type=Map).get(MESH_INSIGHTS)
    return isinstance(found, dict) and found["revision"] == content_hash(doc) and not found["stale"]


async def pause_to_insight(workdir: Path) -> dict[str, Any]:
    settings = Settings.of(database_url=f"sqlite:///{workdir / 'mesh.db'}", data_dir=str(workdir))
    database = Database(settings)
    try:
        await upgrade_to_head(database.engine)
        team = await seed_team_into(database, TokenSigner(ed25519_key(settings.jwt_key_path)))
    finally:
        await database.dispose()
    env = server_env(
        settings,
        JUSTMAILY_RATE_LIMIT_PER_IP="100000/minute",
        JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL="100000/minute",
        JUSTMAILY_LOG_LEVEL="WARNING",
    )
    server = ServerProcess(env, workdir / "server.log").start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            editor = team[Role.EDITOR].headers
            cid = (await client.post("/api/campaigns", json={"name": "Bench"}, headers=editor)).json()["id"]

            async def ticket() -> str:
                answer = await client.post(f"/api/campaigns/{cid}/room-ticket", headers=editor)
                return str(answer.json()["url"]) + "&acks=1"

            async with RoomClient.join(await ticket()) as typist, RoomClient.join(await ticket()) as reader:
                await typist.wait_until(typist.synced.is_set)
                waits: list[float] = []
                for n in range(ROUNDS):

                    def type_sentence(doc: Doc[Any], n: int = n) -> None:
                        body = doc.get("body", type=Text)
                        body.insert(len(body), f"Sentence {n}: plant garlic before the frost. ")

                    typist.edit(type_sentence)
                    paused = time.perf_counter()
                    await reader.wait_until(functools.partial(_has, reader.doc, f"Sentence {n}:"))
                    await reader.wait_until(lambda: _current(reader.doc), within=60)
                    waits.append(time.perf_counter() - paused)
    finally:
        server.stop()
    waits.sort()
    return {
        "rounds": len(waits),
        "debounce_seconds": settings.mesh.debounce_seconds,
        "p50_ms": round(statistics.median(waits) * 1000, 1),
        "p99_ms": round(waits[min(len(waits) - 1, int(len(waits) * 0.99))] * 1000, 1),
        "max_ms": round(waits[-1] * 1000, 1),
    }


async def run(workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"analyses": await analyses_per_second()}
    results["pause_to_insight"] = await pause_to_insight(workdir)
    print(json.dumps(results["pause_to_insight"]))
    return results


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-mesh-") as tmp:
        results = asyncio.run(run(Path(tmp)))
    save("mesh", results)
    return 0
