"""With the mesh off (`JUSTMAILY_MESH_ENABLED=false`) there are no agents, and edits get only the
text statistics."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from pycrdt import Map

from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.support.polling import eventually


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.of(database_url=database_url, data_dir=str(tmp_path / "data"), mesh_enabled=False)


@pytest.mark.backends("sqlite")
async def test_no_mesh_no_agents_and_only_statistics(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    assert services_of(app).mesh is None
    assert services_of(app).rooms.watcher is None
    listed = await client.get("/api/mesh/agents", headers=team[Role.ADMIN].headers)
    assert listed.status_code == 200
    assert listed.json() == []
    editor = team[Role.EDITOR].headers
    cid = (await client.post("/api/campaigns", json={"name": "Off"}, headers=editor)).json()["id"]
    patched = await client.patch(
        f"/api/campaigns/{cid}/content", json={"body": "Dear Friend"}, headers=editor
    )
    assert patched.status_code == 200
    room = services_of(app).rooms.rooms[uuid.UUID(cid)]
    await eventually(lambda: (room.doc.get(INSIGHTS, type=Map).get("stats") or {}).get("body_words") == 2)
    content = (await client.get(f"/api/campaigns/{cid}/content", headers=editor)).json()
    assert "mesh" not in content["insights"]
