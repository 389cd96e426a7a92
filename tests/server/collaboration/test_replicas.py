"""Two server processes on one PostgreSQL serve the same room."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pycrdt import Text

from justmaily.desktop.engine.room_client import RoomClient
from justmaily.shared.collaboration import CloseCode
from justmaily.shared.roles import Role
from tests.plugins.live_server import Live
from tests.support.rooms import body, presence
from tests.support.server_process import ServerProcess


@pytest.mark.backends("postgresql")
async def test_edits_cross_replicas(live: Live, tmp_path: Path) -> None:
    other = ServerProcess(live.env, tmp_path / "replica-b.log").start()
    try:
        cid = await live.create_campaign()
        url_a = await live.ticket(live.team[Role.EDITOR], cid)
        async with httpx.AsyncClient(base_url=other.url, timeout=10) as client:
            response = await client.post(
                f"/api/campaigns/{cid}/room-ticket", headers=live.team[Role.ADMIN].headers
            )
        url_b = str(response.json()["url"]) + "&acks=1"
        assert url_b.startswith(other.url.replace("http", "ws"))
        async with (
            RoomClient.join(url_a, presence=presence("on A")) as a,
            RoomClient.join(url_b, presence=presence("on B")) as b,
        ):
            await a.wait_until(a.synced.is_set)
            await b.wait_until(b.synced.is_set)
            # Presence crosses replicas too.
            await a.wait_until(lambda: b.doc.client_id in a.peers(), within=5)
            await b.wait_until(lambda: a.doc.client_id in b.peers(), within=5)
            a.edit(lambda doc: doc.get("body", type=Text).insert(0, "from A"))
            await b.wait_until(lambda: body(b.doc) == "from A", within=5)
            b.edit(lambda doc: doc.get("body", type=Text).insert(6, ", and B"))
            await a.wait_until(lambda: body(a.doc) == "from A, and B", within=5)
            await a.wait_until(lambda: a.stored == a.updates_sent)
            await b.wait_until(lambda: b.stored == b.updates_sent)
        assert (await live.content(live.team[Role.VIEWER], cid))["body"] == "from A, and B"

        # Removing a member on replica A closes their connection on replica B.
        async with httpx.AsyncClient(base_url=other.url, timeout=10) as client:
            response = await client.post(
                f"/api/campaigns/{cid}/room-ticket", headers=live.team[Role.VIEWER].headers
            )
        async with RoomClient.join(str(response.json()["url"])) as viewer_on_b:
            await viewer_on_b.wait_until(viewer_on_b.synced.is_set)
            removed = await live.call(
                "DELETE", f"/api/members/{live.team[Role.VIEWER].id}", live.team[Role.OWNER]
            )
            assert removed.status_code == 204
            await viewer_on_b.wait_until(viewer_on_b.closed.is_set, within=5)
        assert viewer_on_b.close_code == CloseCode.ACCESS_REVOKED
    finally:
        other.stop()
