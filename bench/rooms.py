"""Live rooms under load: edit-to-peer latency and the server's CPU per delivered edit, per new
connection and per presence renewal; memory per connection, idle connections, and latency
across two replicas sharing PostgreSQL.

One server process on loopback; clients are pycrdt documents over real WebSockets in this
process (with presence, as stock clients have: BENCH_PRESENCE=0 for none). Sizes come from
BENCH_ROOMS, BENCH_EDITORS, BENCH_EDITS, BENCH_EDITS_PER_SECOND, BENCH_IDLE,
BENCH_RENEWALS_PER_SECOND (see below); BENCH_PARTS picks parts (`load,idle,presence,replicas`);
BENCH_WORKERS [1] the server's worker processes (CPU and memory summed over them); BENCH_MESH=0
without the agent mesh; BENCH_TYPE_TEXT=1 makes each edit also type a word into the body (which
the mesh analyses).
Server CPU is read from /proc (user + system time of the server process over each phase), so
the clients sharing the machine do not count; the machine's other load still slows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import websockets
from pycrdt import Doc, Map, MapEvent, Text
from tests.support import pgcluster
from tests.support.server_process import ServerProcess, server_env

from bench.procs import cpu_seconds, rss_kib
from bench.report import save
from justmaily.desktop.engine.room_client import RoomClient
from justmaily.server.settings import Settings
from justmaily.shared.document import protocol

ROOMS = int(os.environ.get("BENCH_ROOMS", "200"))
EDITORS = int(os.environ.get("BENCH_EDITORS", "5"))
EDITS = int(os.environ.get("BENCH_EDITS", "1000"))
IDLE = int(os.environ.get("BENCH_IDLE", "2000"))
EDITS_PER_SECOND = float(os.environ.get("BENCH_EDITS_PER_SECOND", "200"))
PRESENCE = os.environ.get("BENCH_PRESENCE", "1") != "0"
# 5,000 clients renewing presence every 15 s (as stock clients do) send 333 renewals a second.
RENEWALS_PER_SECOND = float(os.environ.get("BENCH_RENEWALS_PER_SECOND", "333"))
RENEWAL_SECONDS = float(os.environ.get("BENCH_RENEWAL_SECONDS", "10"))
STAGE_SAMPLES = int(os.environ.get("BENCH_STAGE_SAMPLES", "30"))
PROFILE = os.environ.get("BENCH_PROFILE")  # a folder: py-spy samples the server in each phase
TYPE_TEXT = os.environ.get("BENCH_TYPE_TEXT", "0") == "1"  # each edit also types into the body
PARTS = set(os.environ.get("BENCH_PARTS", "load,idle,presence,replicas").split(","))
SERVER_ENV = {
    "JUSTMAILY_RATE_LIMIT_PER_IP": "10000000/minute",
    "JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL": "10000000/minute",
    "JUSTMAILY_ROOM_SILENT_SECONDS": "600",
    "JUSTMAILY_ROOM_IDLE_UNLOAD_SECONDS": "600",
    "JUSTMAILY_LOG_LEVEL": "WARNING",
    "JUSTMAILY_AUTO_MIGRATE": "true",
    "JUSTMAILY_ROOM_TICKET_TTL_SECONDS": "3600",  # tickets are fetched ahead of connecting
    # BENCH_MESH=0 runs the server without the agent mesh (docs/mesh.md), to compare.
    "JUSTMAILY_MESH_ENABLED": "false" if os.environ.get("BENCH_MESH", "1") == "0" else "true",
}


@contextlib.contextmanager
def profiled(pid: int, phase: str) -> Iterator[None]:
    """With BENCH_PROFILE set, py-spy samples the server through the phase (all threads, idle
    time left out) into <BENCH_PROFILE>/<phase>.txt, collapsed stacks for bench/profile_stages.py."""
    if not PROFILE:
        yield
        return
    Path(PROFILE).mkdir(parents=True, exist_ok=True)
    out = Path(PROFILE) / f"{phase}.txt"
    spy = subprocess.Popen(  # noqa: S603 - our own venv's py-spy, fixed arguments
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--threads",
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # it writes what it sampled, then exits
        spy.wait(timeout=60)


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
    def edit(doc: Doc[Any]) -> None:
        doc.get("bench", type=Map)[key] = 1
        if TYPE_TEXT:  # also a word typed into the body: what the mesh's agents analyse
            body = doc.get("body", type=Text)
            body.insert(len(body), f"{key} ")

    return edit


async def load(api: Api, pid: int) -> dict[str, Any]:
    await api.login()
    campaigns = [await api.campaign(f"Room {i}") for i in range(ROOMS)]
    connections = ROOMS * EDITORS
    cpu = cpu_seconds(pid)
    tickets = [[await api.ticket(campaign_id) for _ in range(EDITORS)] for campaign_id in campaigns]
    ticket_cpu = cpu_seconds(pid) - cpu
    before = rss_kib(pid)
    synced_after: list[float] = []
    async with anyio.create_task_group() as group:
        rooms: list[list[RoomClient]] = [[] for _ in campaigns]
        done = anyio.Event()

        async def connect(i: int, url: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
            began = time.perf_counter()
            presence = {"user": {"name": f"bench {i}", "color": "#3a7"}} if PRESENCE else None
            async with RoomClient.join(url, presence=presence, heartbeat=None) as client:
                await client.wait_until(client.synced.is_set, within=60)
                synced_after.append(time.perf_counter() - began)
                rooms[i].append(client)
                task_status.started()
                await done.wait()

        began = time.perf_counter()
        cpu = cpu_seconds(pid)
        with profiled(pid, "connect"):
            for i, urls in enumerate(tickets):
                for url in urls:
                    await group.start(connect, i, url)
        connect_cpu = cpu_seconds(pid) - cpu
        connect_seconds = time.perf_counter() - began
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
        with profiled(pid, "edit"):
            cpu = cpu_seconds(pid)
            for n in range(EDITS):
                room = random.randrange(ROOMS)
                author = random.randrange(EDITORS)
                key = f"e{n}"
                probe.expect(key, EDITORS - 1)
                rooms[room][author].edit(mark(key))
                await anyio.sleep(max(0.0, began + (n + 1) / EDITS_PER_SECOND - time.perf_counter()))
            with anyio.move_on_after(30):
                await probe.all_seen.wait()
            edit_cpu = cpu_seconds(pid) - cpu
        edit_seconds = time.perf_counter() - began
        done.set()
    return {
        "rooms": ROOMS,
        "editors_per_room": EDITORS,
        "presence": PRESENCE,
        "connections": connections,
        "connect_seconds": round(connect_seconds, 1),
        "connect_to_synced": summary(synced_after),
        "server_cpu_us_per_ticket": round(ticket_cpu / connections * 1e6),
        "server_cpu_us_per_connection": round(connect_cpu / connections * 1e6),
        "edits_per_second": EDITS_PER_SECOND,
        "edit_to_peer": summary(probe.latencies),
        "server_cpu_us_per_delivery": round(edit_cpu / max(1, len(probe.latencies)) * 1e6, 1),
        "server_cpu_share_while_editing": round(edit_cpu / edit_seconds, 3),
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


async def connection_stages(api: Api) -> dict[str, Any]:
    """One connection at a time, timed by the client at each step: the WebSocket upgrade, the
    server's first message (ticket redeemed, room loaded or found), and the end of the sync
    handshake (our step 1 answered by the server's step 2); into a new room, then a loaded one."""
    await api.login()
    stages: dict[str, list[float]] = {}
    for n in range(STAGE_SAMPLES):
        campaign_id = await api.campaign(f"Stages {n}")
        for room in ("new_room", "loaded_room"):
            url = await api.ticket(campaign_id)
            began = time.perf_counter()
            async with websockets.connect(url, max_queue=None) as ws:
                opened = time.perf_counter()
                await ws.recv()
                first = time.perf_counter()
                await ws.send(protocol.sync_step1(Doc()))
                while protocol.parse(await ws.recv(decode=False)).kind is not protocol.Kind.SYNC_STEP2:
                    pass
                synced = time.perf_counter()
                if room == "new_room":
                    keep = await websockets.connect(await api.ticket(campaign_id))  # keeps it loaded
            for stage, seconds in (
                ("upgrade", opened - began),
                ("ticket_and_room", first - opened),
                ("sync_handshake", synced - first),
                ("connect_to_synced", synced - began),
            ):
                stages.setdefault(f"{room}_{stage}_ms", []).append(seconds * 1000)
        await keep.close()
    return {name: round(statistics.median(values), 2) for name, values in stages.items()}


async def presence(api: Api, pid: int) -> dict[str, Any]:
    """BENCH_IDLE clients in rooms of BENCH_EDITORS, doing nothing but renewing their presence
    (together BENCH_RENEWALS_PER_SECOND, for BENCH_RENEWAL_SECONDS): the server's CPU for it."""
    await api.login()
    campaigns = [await api.campaign(f"Presence {i}") for i in range(max(1, IDLE // EDITORS))]
    urls = [await api.ticket(campaign_id) for campaign_id in campaigns for _ in range(EDITORS)]
    sockets: list[websockets.ClientConnection] = []
    try:
        for url in urls:
            # Never leave what the room sends unread: a client that falls behind is closed.
            ws = await websockets.connect(url, max_queue=None)
            await ws.recv()  # the server's first message: the ticket redeemed, the room joined
            sockets.append(ws)
        clocks = [0] * len(sockets)

        def renewal(n: int) -> bytes:
            clocks[n] += 1
            state = json.dumps({"user": {"name": f"idle {n}", "color": "#a37"}, "cursor": None})
            return protocol.awareness_message(
                protocol.write_awareness([protocol.PresenceState(1_000_000 + n, clocks[n], state)])
            )

        for n, ws in enumerate(sockets):
            await ws.send(renewal(n))
        count = int(RENEWALS_PER_SECOND * RENEWAL_SECONDS)
        with profiled(pid, "presence"):
            cpu = cpu_seconds(pid)
            began = time.perf_counter()
            for i in range(count):
                n = i % len(sockets)
                await sockets[n].send(renewal(n))
                await anyio.sleep(max(0.0, began + (i + 1) / RENEWALS_PER_SECOND - time.perf_counter()))
            await anyio.sleep(0.5)  # let the last renewals be relayed
            used = cpu_seconds(pid) - cpu
            seconds = time.perf_counter() - began
        closed = sum(1 for ws in sockets if ws.close_code is not None)
    finally:
        for ws in sockets:
            await ws.close()
    return {
        "clients": len(sockets),
        "renewals_per_second": round(count / seconds),
        "server_cpu_us_per_renewal": round(used / count * 1e6, 1),
        "server_cpu_share": round(used / seconds, 3),
        "closed_by_server": closed,
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
    env = server_env(settings, **SERVER_ENV, JUSTMAILY_WORKERS=os.environ.get("BENCH_WORKERS", "1"))
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
            pid = server.process.pid
            if "load" in PARTS:
                results["connection_stages_sqlite"] = asyncio.run(
                    connection_stages(Api(server.url, password))
                )
                results["load_sqlite"] = asyncio.run(load(Api(server.url, password), pid))
            if "idle" in PARTS:
                results["idle_sqlite"] = asyncio.run(idle(Api(server.url, password), pid))
            if "presence" in PARTS:
                results["presence_sqlite"] = asyncio.run(presence(Api(server.url, password), pid))
        finally:
            server.stop()
        if "replicas" not in PARTS:
            print(json.dumps(results, indent=2))
            save("rooms", results)
            return 0
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
