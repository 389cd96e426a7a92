"""A room ticket's address is the configured public URL's, whatever the request said."""

from __future__ import annotations

import httpx
import pytest

from justmaily.server.collaboration.tickets import room_base_url
from justmaily.shared.roles import Role
from tests.plugins.api import Team


def test_the_room_url_is_built_from_the_public_url() -> None:
    assert room_base_url("https://mail.example.com/justmaily/") == "wss://mail.example.com/justmaily"
    assert room_base_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000"


@pytest.mark.backends("sqlite")
async def test_a_ticket_points_to_the_public_url_whatever_the_host_header(
    client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    cid = (await client.post("/api/campaigns", json={"name": "Host"}, headers=editor)).json()["id"]
    response = await client.post(
        f"/api/campaigns/{cid}/room-ticket", headers={**editor, "Host": "attacker.example"}
    )
    assert response.status_code == 201, response.text
    url = response.json()["url"]
    assert url.startswith(f"ws://127.0.0.1:8000/api/campaigns/{cid}/room?ticket="), url  # the default
