"""The registry's routes: every in-process agent listed with its health, its card with an ETag,
owners and admins only; and the mesh writing verdicts into a document edited over REST, with a
faulty agent's breaker opening on the way."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from pycrdt import Doc, Map
from sqlalchemy import update

from justmaily.server.db.base import utcnow
from justmaily.server.mesh import registry
from justmaily.server.mesh.models import MeshAgent
from justmaily.server.services import services_of
from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import content_hash
from justmaily.shared.mesh import MESH_INSIGHTS, AgentKind, BreakerState, VerdictStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.server.mesh.test_engine import GarbageAgent
from tests.support.polling import eventually


async def agents(client: httpx.AsyncClient, team: Team) -> list[dict[str, Any]]:
    response = await client.get("/api/mesh/agents", headers=team[Role.ADMIN].headers)
    assert response.status_code == 200, response.text
    return list(response.json())


async def registered(app: Litestar, client: httpx.AsyncClient, team: Team) -> list[dict[str, Any]]:
    await mesh_heartbeat(app)  # the first beat may not have landed yet
    return await agents(client, team)


async def test_every_kind_has_a_healthy_agent_with_its_card(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    listed = await registered(app, client, team)
    assert sorted(agent["kind"] for agent in listed) == sorted(AgentKind)
    assert {agent["status"] for agent in listed} == {"healthy"}
    assert {agent["breaker"] for agent in listed} == {"closed"}
    spam = next(agent for agent in listed if agent["kind"] == "spam")
    response = await client.get(f"/api/mesh/agents/{spam['id']}", headers=team[Role.OWNER].headers)
    assert response.status_code == 200
    card = response.json()["card"]
    assert card["skills"][0]["id"] == "spam"
    assert card["supportedInterfaces"][0]["url"] == f"urn:justmaily:agent:{spam['id']}"
    etag = response.headers["etag"]
    again = await client.get(
        f"/api/mesh/agents/{spam['id']}", headers={**team[Role.OWNER].headers, "If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(
        f"/api/mesh/agents/{spam['id']}", headers={**team[Role.OWNER].headers, "If-None-Match": '"other"'}
    )
    assert other.status_code == 200


async def test_only_owners_and_admins_see_the_mesh(client: httpx.AsyncClient, team: Team) -> None:
    for role in (Role.EDITOR, Role.REVIEWER, Role.ANALYST, Role.VIEWER):
        response = await client.get("/api/mesh/agents", headers=team[role].headers)
        assert response.status_code == 403, role
        assert response.json()["code"] == "forbidden"
    missing = await client.get(f"/api/mesh/agents/{uuid.uuid4()}", headers=team[Role.ADMIN].headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    bad = await client.get("/api/mesh/agents/not-a-uuid", headers=team[Role.ADMIN].headers)
    assert bad.status_code in {400, 404}
    assert (await client.get("/api/mesh/agents")).status_code == 401


async def test_an_agent_whose_heartbeats_stop_shows_down(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    listed = await registered(app, client, team)
    silent = listed[0]["id"]
    async with services_of(app).database.session() as session:
        await session.execute(
            update(MeshAgent)
            .where(MeshAgent.id == uuid.UUID(silent))
            .values(heartbeat_at=utcnow() - timedelta(minutes=5))
        )
        await session.commit()
    statuses = {agent["id"]: agent["status"] for agent in await agents(client, team)}
    assert statuses[silent] == "down"
    assert sorted(set(statuses.values())) == ["down", "healthy"]


async def test_edits_get_verdicts_and_a_garbage_agent_is_passed_over_until_its_breaker_opens(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    mesh = services_of(app).mesh
    assert mesh is not None
    garbage = GarbageAgent(AgentKind.SPAM)
    faulty = mesh.engine.add(garbage)
    faulty.load = -1  # looks idlest: asked first
    editor = team[Role.EDITOR].headers
    created = await client.post("/api/campaigns", json={"name": "Mesh"}, headers=editor)
    cid = created.json()["id"]

    async def edit_and_wait(body: str) -> dict[str, Any]:
        patch = {"subject": "BUY NOW", "body": body}
        assert (
            await client.patch(f"/api/campaigns/{cid}/content", json=patch, headers=editor)
        ).status_code == 200
        room = services_of(app).rooms.rooms[uuid.UUID(cid)]
        await eventually(lambda: fresh(room.doc))
        content = (await client.get(f"/api/campaigns/{cid}/content", headers=editor)).json()
        assert content["insights"]["mesh"]["revision"] == content["content_hash"]
        return dict(content["insights"]["mesh"])

    insight = await edit_and_wait("Dear Friend, a money back guarantee. [here](http://example.com/)")
    assert insight["stale"] is False
    assert sorted(insight["verdicts"]) == sorted(AgentKind)
    spam = insight["verdicts"]["spam"]
    assert spam["status"] == VerdictStatus.OK
    assert spam["agent"] != str(garbage.id)  # the other spam agent answered
    assert "DEAR_FRIEND" in [finding["rule"] for finding in spam["findings"]]
    assert "LINK_INSECURE" in [f["rule"] for f in insight["verdicts"]["links"]["findings"]]
    assert garbage.tasks == 2  # a try and a retry
    assert faulty.breaker.state == BreakerState.CLOSED  # 2 outcomes: fewer than the window's minimum

    insight = await edit_and_wait("Dear Friend, again.")
    assert insight["verdicts"]["spam"]["status"] == VerdictStatus.OK
    assert garbage.tasks == 4
    assert str(faulty.breaker.state) == "open"  # 4 of 4 failed

    insight = await edit_and_wait("Dear Friend, once more.")
    assert insight["verdicts"]["spam"]["status"] == VerdictStatus.OK
    assert garbage.tasks == 4  # passed over while open
    await mesh_heartbeat(app)
    listed = {agent["id"]: agent for agent in await agents(client, team)}
    assert listed[str(garbage.id)]["status"] == "down"
    assert listed[str(garbage.id)]["breaker"] == "open"
    assert listed[str(garbage.id)]["failed"] == 4


def fresh(doc: Doc[Any]) -> bool:
    """Has the document verdicts about its current content?"""
    found = doc.get(INSIGHTS, type=Map).get(MESH_INSIGHTS)
    return isinstance(found, dict) and found["revision"] == content_hash(doc)


async def mesh_heartbeat(app: Litestar) -> None:
    """Write the agents' state now rather than at the next beat."""
    mesh = services_of(app).mesh
    assert mesh is not None
    await registry.publish(services_of(app).database, list(mesh.engine.agents.values()), mesh.host)
