"""Live rooms under load: edit-to-peer latency, memory per connection, idle connections, and
latency across two replicas sharing PostgreSQL.

One server process on loopback; clients are pycrdt documents over real WebSockets in this
process. Sizes come from BENCH_ROOMS, BENCH_EDITORS, BENCH_EDITS, BENCH_IDLE (see below).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import websockets
from pycrdt import Doc, Map, MapEvent
from tests.support import pgcluster
from tests.support.server_process import ServerProcess, server_env

from bench.report import save
from justmaily.desktop.engine.room_client import RoomClient
from justmaily.server.settings import Settings

ROOMS = int(os.environ.get("BENCH_ROOMS", "200"))
EDITORS = int(os.environ.get("BENCH_EDITORS", "5"))
EDITS = int(os.environ.get("BENCH_EDITS", "1000"))
IDLE = int(os.environ.get("BENCH_IDLE", "2000"))
EDITS_PER_SECOND = float(os.environ.get("BENCH_EDITS_PER_SECOND", "200"))
SERVER_ENV = {
    "JUSTMAILY_RATE_LIMIT_PER_IP": "10000000/minute",
    "JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL": "10000000/minute",
    "JUSTMAILY_ROOM_SILENT_SECONDS": "600",
    "JUSTMAILY_ROOM_IDLE_UNLOAD_SECONDS": "600",
    "JUSTMAILY_LOG_LEVEL": "WARNING",
    "JUSTMAILY_AUTO_MIGRATE": "true",
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def summary(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "count": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


class Api:
    def __init__(self, base: str, password: str) -> None:
        self.base, self.password = base, password
        self.http = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=20))
        self.headers: dict[str, str] = {}

    async def login(self, email: str = "editor@demo.example.com") -> None:
        response = await self.http.post("/api/auth/login", json={"email": email, "password": self.password})
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def campaign(self, name: str) -> str:
        response = await self.http.post("/api/campaigns", json={"name": name}, headers=self.headers)
        return str(response.json()["id"])

    async def ticket(self, campaign_id: str, base: str | None = None) -> str:
        client = self.http if base is None else httpx.AsyncClient(base_url=base, timeout=30)
        response = await client.post(f"/api/campaigns/{campaign_id}/room-ticket", headers=self.headers)
        if base is not None:
            await client.aclose()
        return str(response.json()["url"])


class Probe:
    """Marks edits and times their arrival at peers (a map entry per edit, cheap to observe)."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.pending: dict[str, int] = {}  # edit -> peers still to see it
        self.all_seen = anyio.Event()
        self._keep: list[Any] = []  # pycrdt drops an observer whose map and subscription are collected

    def expect(self, key: str, peers: int) -> None:
        self.pending[key] = peers
        self.all_seen = anyio.Event()
        self.sent[key] = time.perf_counter()

    def watch(self, doc: Doc[Any]) -> None:
        def seen(event: MapEvent) -> None:
            now = time.perf_counter()
            for key in event.keys:  # type: ignore[attr-defined]
                if key in self.pending:
                    self.latencies.append(now - self.sent[key])
                    self.pending[key] -= 1
                    if self.pending[key] == 0:
                        del self.pending[key]
            if not self.pending:
                self.all_seen.set()

        marks = doc.get("bench", type=Map)
        self._keep += [marks, marks.observe(seen)]


def mark(key: str) -> Any:
    return lambda doc: doc.get("bench", type=Map).__setitem__(key, 1)


async def load(api: Api, pid: int) -> dict[str, Any]:
    await api.login()
    campaigns = [await api.campaign(f"Room {i}") for i in range(ROOMS)]
    before = rss_kib(pid)
    async with anyio.create_task_group() as group:
        rooms: list[list[RoomClient]] = [[] for _ in campaigns]
        done = anyio.Event()

        async def connect(i: int, campaign_id: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
            async with RoomClient.join(await api.ticket(campaign_id), heartbeat=None) as client:
                await client.wait_until(client.synced.is_set, within=60)
                rooms[i].append(client)
                task_status.started()
                await done.wait()

        began = time.perf_counter()
        for i, campaign_id in enumerate(campaigns):
            for _ in range(EDITORS):
                await group.start(connect, i, campaign_id)
        connect_seconds = time.perf_counter() - began
        connections = ROOMS * EDITORS
        after = rss_kib(pid)
        # The clients live in this process: keep its garbage collector from pausing the clock
        # (thousands of long-lived client objects make a full collection take about a second).
        gc.collect()
        gc.freeze()

        probe = Probe()
        for members in rooms:
            for member in members:
                probe.watch(member.doc)
        began = time.perf_counter()
        for n in range(EDITS):
            room = random.randrange(ROOMS)
            author = random.randrange(EDITORS)
            key = f"e{n}"
            probe.expect(key, EDITORS - 1)
            rooms[room][author].edit(mark(key))
            await anyio.sleep(max(0.0, began + (n + 1) / EDITS_PER_SECOND - time.perf_counter()))
        with anyio.move_on_after(30):
            await probe.all_seen.wait()
        done.set()
    return {
        "rooms": ROOMS,
        "editors_per_room": EDITORS,
        "connections": connections,
        "connect_seconds": round(connect_seconds, 1),
        "edits_per_second": EDITS_PER_SECOND,
        "edit_to_peer": summary(probe.latencies),
        "undelivered": sum(probe.pending.values()),
        "server_rss_mib": round(after / 1024, 1),
        "kib_per_connection": round((after - before) / connections, 1),
    }


async def idle(api: Api, pid: int) -> dict[str, Any]:
    await api.login()
    campaign_id = await api.campaign("Idle")
    before = rss_kib(pid)
    sockets = []
    try:
        for _ in range(IDLE):
            ws = await websockets.connect(await api.ticket(campaign_id))
            await ws.recv()
            sockets.append(ws)
        after = rss_kib(pid)
    finally:
        for ws in sockets:
            await ws.close()
    return {
        "idle_connections": len(sockets),
        "server_rss_mib": round(after / 1024, 1),
        "kib_per_idle_connection": round((after - before) / max(1, len(sockets)), 1),
    }


async def cross_replica(api: Api, base_b: str) -> dict[str, Any]:
    await api.login()
    campaign_id = await api.campaign("Across")
    probe = Probe()
    async with (
        RoomClient.join(await api.ticket(campaign_id)) as a,
        RoomClient.join(await api.ticket(campaign_id, base=base_b)) as b,
    ):
        await a.wait_until(a.synced.is_set)
        await b.wait_until(b.synced.is_set)
        probe.watch(b.doc)
        for n in range(200):
            key = f"x{n}"
            probe.expect(key, 1)
            a.edit(mark(key))
            await anyio.sleep(0.02)
        with anyio.move_on_after(10):
            await probe.all_seen.wait()
    return {"cross_replica": summary(probe.latencies), "undelivered": len(probe.pending)}


def start(settings: Settings, workdir: Path, name: str, demo: bool = True) -> tuple[ServerProcess, str]:
    env = server_env(settings, **SERVER_ENV)
    server = ServerProcess(env, workdir / f"{name}.log", args=("--demo",) if demo else ()).start()
    password = (Path(settings.data_dir) / "demo-password").read_text().strip()
    return server, password


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-rooms-") as tmp:
        workdir = Path(tmp)
        settings = Settings.of(
            database_url=f"sqlite:///{workdir / 'rooms.db'}", data_dir=str(workdir / "sqlite")
        )
        server, password = start(settings, workdir, "sqlite")
        try:
            assert server.process is not None
            results["load_sqlite"] = asyncio.run(load(Api(server.url, password), server.process.pid))
            results["idle_sqlite"] = asyncio.run(idle(Api(server.url, password), server.process.pid))
        finally:
            server.stop()
        pg_root = Path(tempfile.mkdtemp(prefix="justmaily-bench-pg-"))
        try:
            pg = Settings.of(database_url=pgcluster.start(pg_root), data_dir=str(workdir / "pg"))
            a, password = start(pg, workdir, "replica-a")
            b, _ = start(pg, workdir, "replica-b", demo=False)
            try:
                results["replicas_postgresql"] = asyncio.run(cross_replica(Api(a.url, password), b.url))
            finally:
                a.stop()
                b.stop()
        finally:
            pgcluster.stop(pg_root)
    print(json.dumps(results, indent=2))
    save("rooms", results)
    return 0
