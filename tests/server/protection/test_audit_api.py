"""GET /api/audit: owners and admins read their workspace's audit log, page by page; nobody
else's, and no other role (the full role matrix: test_authorization_matrix.py)."""

from __future__ import annotations

import httpx
from litestar import Litestar

from justmaily.server.protection.audit import Actor
from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from tests.plugins.api import Team


async def test_owners_and_admins_read_their_workspaces_key_operations(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    services = services_of(app)
    owner = Actor("person", str(team[Role.OWNER].id))
    async with services.database.session() as session, session.begin():
        await services.protection.keys_of(
            session, team.workspace_id, owner, "export for the quarterly report"
        )
        await services.protection.keys_of(session, team.rival_workspace_id, Actor.system("sender"), "send")

    response = await client.get("/api/audit", params={"limit": 3}, headers=team[Role.OWNER].headers)
    assert response.status_code == 200, response.text
    first = response.json()
    assert [item["action"] for item in first["items"]] == ["key.create", "key.create", "key.unwrap"]
    assert first["next_cursor"]
    rest = await client.get(
        "/api/audit", params={"limit": 3, "cursor": first["next_cursor"]}, headers=team[Role.ADMIN].headers
    )
    entries = first["items"] + rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert sorted((e["action"], e["subject"]) for e in entries) == [
        ("key.create", "data key v1"),
        ("key.create", "index key v1"),
        ("key.unwrap", "data key v1"),
        ("key.unwrap", "index key v1"),
    ]
    unwrap = next(e for e in entries if e["action"] == "key.unwrap")
    assert (unwrap["actor_kind"], unwrap["actor_id"], unwrap["reason"]) == (
        "person",
        str(team[Role.OWNER].id),
        "export for the quarterly report",
    )

    rival = (await client.get("/api/audit", headers=team.rival.headers)).json()["items"]
    assert {(e["actor_id"], e["reason"]) for e in rival} == {("sender", "send"), ("sender", "first use")}

    assert (await client.get("/api/audit", headers=team[Role.EDITOR].headers)).status_code == 403
    bad = await client.get("/api/audit", params={"cursor": "not a cursor"}, headers=team[Role.OWNER].headers)
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_cursor"
