"""`justmaily serve` with several worker processes (workers/, docs/design/processes.md): rooms
served by their owner, edits crossing workers, a dead worker restarted, clean stops."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from pathlib import Path

import anyio
import httpx
import msgspec
import pytest
from pycrdt import Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.server.http.rate_limit import shared_by
from justmaily.server.workers.routing import owner_of, room_owner
from justmaily.server.workers.supervisor import _cgroup_cpu_limit, default_workers
from justmaily.shared.ops import PerformanceSnapshot
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.polling import eventually
from tests.support.rooms import body
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.server_process
WORKERS = 2


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"JUSTMAILY_WORKERS": str(WORKERS)}


def test_a_rooms_upgrade_names_its_owner_and_nothing_else_does() -> None:
    campaign = uuid.uuid4()
    line = f"GET /api/campaigns/{campaign}/room?ticket=abc HTTP/1.1".encode()
    assert owner_of(line, 4) == room_owner(campaign, 4)
    assert owner_of(f"GET /api/campaigns/{campaign}/room HTTP/1.1".encode(), 4) == room_owner(campaign, 4)
    assert owner_of(f"GET /api/campaigns/{campaign}/content HTTP/1.1".encode(), 4) is None
    assert owner_of(f"POST /api/campaigns/{campaign}/room HTTP/1.1".encode(), 4) is None
    assert owner_of(b"GET /api/campaigns/not-a-uuid-but-36-characters-long-xx/room HTTP/1.1", 4) is None
    assert owner_of(b"", 4) is None
    # Spread: many campaigns land on every worker, and a campaign always on the same one.
    owners = [room_owner(uuid.uuid4(), 4) for _ in range(400)]
    assert set(owners) == {0, 1, 2, 3}
    assert min(owners.count(i) for i in range(4)) > 50


def test_by_default_one_worker_per_core_within_a_containers_cpu_limit(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert _cgroup_cpu_limit(cpu_max) is None
    cpu_max.write_text("150000 100000\n")
    assert _cgroup_cpu_limit(cpu_max) == 2
    cpu_max.write_text("50000 100000\n")
    assert _cgroup_cpu_limit(cpu_max) == 1
    assert _cgroup_cpu_limit(tmp_path / "absent") is None
    assert 1 <= default_workers() <= (os.cpu_count() or 1)


def test_a_budget_shared_by_workers_is_divided_rounding_up() -> None:
    assert shared_by("10/15minutes", 2) == "5/15minutes"
    assert shared_by("5/second;100/hour", 3) == "2/second;34/hour"
    assert shared_by("1/minute", 4) == "1/minute"
    assert shared_by("50/15minutes", 1) == "50/15minutes"


def _log_events(server: ServerProcess, event: str) -> list[dict[str, object]]:
    return [record for record in server.records() if record.get("event") == event]


def _worker_pids(server: ServerProcess) -> dict[int, int]:
    """Each worker's latest process id, from the supervisor's log."""
    return {int(str(r["worker"])): int(str(r["pid"])) for r in _log_events(server, "worker_started")}


async def test_rooms_live_with_their_owner_and_rest_edits_reach_them_from_any_worker(live: Live) -> None:
    editor = live.team[Role.EDITOR]
    campaigns = [await live.create_campaign(name=f"Room {i}") for i in range(4)]
    for i in range(40):  # rooms on every worker (each is a coin toss)
        if {room_owner(uuid.UUID(c), WORKERS) for c in campaigns} == set(range(WORKERS)):
            break
        campaigns.append(await live.create_campaign(name=f"Room {4 + i}"))
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for cid in campaigns:
            client = await stack.enter_async_context(RoomClient.join(await live.ticket(editor, cid)))
            await client.wait_until(client.synced.is_set)
            clients[cid] = client
        # Content edits over REST, each on a new connection (so on either worker): every one
        # reaches the room's clients, wherever the room lives.
        for round_ in range(3):
            for cid, client in clients.items():
                words = f"edit {round_} of {cid[:8]}"
                response = await live.call(
                    "PATCH", f"/api/campaigns/{cid}/content", editor, json={"body": words}
                )
                assert response.status_code == 200, response.text
                await _shows(client, words)
        # And the other way: an edit in the room is what a REST read on any worker returns.
        for client in clients.values():
            client.edit(lambda doc: doc.get("body", type=Text).insert(0, "Room says: "))
            await _all_stored(client)
        for cid in campaigns:
            for _ in range(4):
                assert (await live.content(editor, cid))["body"].startswith("Room says: edit 2")
    # Every room connection was served by the worker that owns the room.
    await eventually(lambda: len(_log_events(live.server, "room_connection_ended")) >= len(campaigns))
    served = {
        (str(r["campaign"]), int(str(r["worker"]))) for r in _log_events(live.server, "room_connection_ended")
    }
    assert served == {(cid, room_owner(uuid.UUID(cid), WORKERS)) for cid in campaigns}


async def test_a_dead_worker_comes_back_with_its_rooms_and_nothing_stored_is_lost(live: Live) -> None:
    editor = live.team[Role.EDITOR]
    cid = await live.create_campaign(name="Survivor")
    owner = room_owner(uuid.UUID(cid), WORKERS)
    async with RoomClient.join(await live.ticket(editor, cid)) as client:
        await client.wait_until(client.synced.is_set)
        client.edit(lambda doc: doc.get("body", type=Text).insert(0, "kept"))
        await client.wait_until(lambda: client.stored == client.updates_sent)
        victim = _worker_pids(live.server)[owner]
        os.kill(victim, signal.SIGKILL)
        await client.wait_until(client.closed.is_set, within=5)
    await eventually(lambda: _worker_pids(live.server)[owner] != victim)
    # The server answers throughout (the other worker), and the room is back with its owner.
    async with RoomClient.join(await live.ticket(editor, cid)) as again:
        await again.wait_until(again.synced.is_set, within=15)
        assert body(again.doc) == "kept"
    assert any(r["worker"] == owner and r["code"] == -9 for r in _log_events(live.server, "worker_died"))


@pytest.mark.backends("sqlite")
async def test_sigterm_stops_every_worker_after_storing_and_a_killed_supervisor_takes_them_along(
    live: Live, tmp_path: Path
) -> None:
    editor = live.team[Role.EDITOR]
    cid = await live.create_campaign(name="Stopping")
    async with RoomClient.join(await live.ticket(editor, cid)) as client:
        await client.wait_until(client.synced.is_set)
        client.edit(lambda doc: doc.get("body", type=Text).insert(0, "before the stop"))
        await client.wait_until(lambda: client.stored == client.updates_sent)
        pids = list(_worker_pids(live.server).values())
        assert live.server.stop(signal.SIGTERM) == 0
    assert not [pid for pid in pids if _alive(pid)]

    live.restart(tmp_path, same_port=True)
    assert (await live.content(editor, cid))["body"] == "before the stop"
    pids = list(_worker_pids(live.server).values())
    live.server.stop(signal.SIGKILL)
    await eventually(lambda: not [pid for pid in pids if _alive(pid)], within=5)
    live.restart(tmp_path, same_port=True)  # the port is free again at once
    async with httpx.AsyncClient(base_url=live.url, timeout=5) as http:
        assert (await http.get("/health/live")).status_code == 200


async def _shows(client: RoomClient, words: str) -> None:
    await client.wait_until(lambda: body(client.doc) == words, within=5)


async def _all_stored(client: RoomClient) -> None:
    await client.wait_until(lambda: client.stored == client.updates_sent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_metrics_are_the_sum_of_every_workers_and_any_worker_answers_them(live: Live) -> None:
    token = (Path(live.settings.data_dir) / "metrics.token").read_text().strip()
    editor = live.team[Role.EDITOR]
    cid = await live.create_campaign(name="Counted")

    async def get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=live.url) as client:  # a new connection: either worker
            return await client.get(path, headers=headers)

    requests = 30
    for _ in range(requests):
        assert (await get("/health/live")).status_code == 200
    served_by = {r["worker"] for r in live.server.records() if r.get("path") == "/health/live"}
    assert served_by == set(range(WORKERS))
    async with RoomClient.join(await live.ticket(editor, cid)) as client:
        await client.wait_until(client.synced.is_set)
        client.edit(lambda doc: doc.get("body", type=Text).insert(0, "counted"))
        await _all_stored(client)

        def scrapers() -> set[object]:
            return {r["worker"] for r in live.server.records() if r.get("path") == "/metrics"}

        for _ in range(60):  # scrape until both workers have answered (bounded)
            scraped = await get("/metrics", {"Authorization": f"Bearer {token}"})
            assert scraped.status_code == 200
            text = scraped.text
            health = 'justmaily_http_requests_total{method="GET",route="/health/live",status="200"}'
            assert f"{health} {requests}.0" in text
            assert "\njustmaily_room_connections 1.0\n" in text  # held by one worker, seen from both
            assert "\njustmaily_room_edits_total 1.0\n" in text
            assert "\njustmaily_room_relay_seconds_count 1.0\n" in text
            if scrapers() == set(range(WORKERS)):
                break
    await eventually(lambda: scrapers() == set(range(WORKERS)))


async def test_the_performance_snapshot_is_the_sum_of_every_workers_too(live: Live) -> None:
    owner = live.team[Role.OWNER]
    cid = await live.create_campaign(name="Watched")
    requests = 30
    for _ in range(requests):
        async with httpx.AsyncClient(base_url=live.url) as fresh:  # a new connection: either worker
            assert (await fresh.get("/health/live")).status_code == 200
    async with RoomClient.join(await live.ticket(live.team[Role.EDITOR], cid)) as client:
        await client.wait_until(client.synced.is_set)
        # Read until both workers have answered (which one does is the kernel's choice).
        with anyio.fail_after(30):
            while served_by(live, "/api/ops/performance") != set(range(WORKERS)):
                answer = await live.call("GET", "/api/ops/performance", owner)
                assert answer.status_code == 200, answer.text
                snapshot = msgspec.json.decode(answer.content, type=PerformanceSnapshot)
                health = [r for r in snapshot.routes if (r.method, r.route) == ("GET", "/health/live")]
                assert [r.requests for r in health] == [requests]
                assert health[0].latency[-1].count == requests
                assert snapshot.rooms.connections == 1  # held by one worker, seen from both


def served_by(live: Live, path: str) -> set[int]:
    return {r["worker"] for r in live.server.records() if r.get("path") == path}
