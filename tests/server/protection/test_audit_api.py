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


async def test_admins_list_and_rotate_their_workspaces_keys(client: httpx.AsyncClient, team: Team) -> None:
    admin = team[Role.ADMIN].headers
    listed = await client.get("/api/keys", headers=admin)
    assert listed.status_code == 200, listed.text
    assert listed.json() == []  # made on first use: nothing has used them yet
    rotated = await client.post("/api/keys/rotations", json={"reason": "yearly"}, headers=admin)
    assert rotated.status_code == 201, rotated.text
    assert [(k["purpose"], k["version"], k["current"]) for k in rotated.json()] == [
        ("data", 1, False),
        ("data", 2, True),
        ("index", 1, True),
    ]
    index = await client.post("/api/keys/rotations", json={"purpose": "index", "reason": "r"}, headers=admin)
    assert [(k["purpose"], k["version"]) for k in index.json() if k["current"]] == [("data", 2), ("index", 2)]
    listed = (await client.get("/api/keys", headers=admin)).json()
    assert [(k["purpose"], k["version"], k["current"]) for k in listed] == [
        ("data", 1, False),
        ("data", 2, True),
        ("index", 1, False),
        ("index", 2, True),
    ]
    assert (await client.get("/api/keys", headers=team.rival.headers)).json() == []  # its own keys only

    audit = (await client.get("/api/audit", params={"limit": 500}, headers=admin)).json()["items"]
    created = [(e["subject"], e["actor_id"], e["reason"]) for e in audit if e["action"] == "key.create"]
    assert ("data key v2", str(team[Role.ADMIN].id), "yearly") in created
    assert ("index key v2", str(team[Role.ADMIN].id), "r") in created

    for bad in ({"reason": ""}, {"purpose": "kek", "reason": "x"}, {"reason": "x", "extra": 1}, {}):
        refused = await client.post("/api/keys/rotations", json=bad, headers=admin)
        assert refused.status_code in (400, 422), (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    editor = await client.post("/api/keys/rotations", json={"reason": "x"}, headers=team[Role.EDITOR].headers)
    assert editor.status_code == 403
