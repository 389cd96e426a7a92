"""Campaigns: create, list, read, update, archive, and the review state machine."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from tests.plugins.api import Team


async def create(client: httpx.AsyncClient, team: Team, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/campaigns", json={"name": "Spring sale", **fields}, headers=team[Role.EDITOR].headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def act(
    client: httpx.AsyncClient, team: Team, role: Role, campaign_id: str, action: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"/api/campaigns/{campaign_id}/transitions",
        json={"action": action, **extra},
        headers=team[role].headers,
    )


async def test_create_and_read(client: httpx.AsyncClient, team: Team) -> None:
    response = await client.post(
        "/api/campaigns",
        headers=team[Role.EDITOR].headers,
        json={
            "name": "Spring sale",
            "subject": "20% off",
            "preheader": "Three days",
            "sender": "Acme <news@acme.example.com>",
        },
    )
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    created = response.json()
    assert created["status"] == "draft"
    assert created["revision"] == 1
    assert created["owner_id"] == str(team[Role.EDITOR].id)
    read = await client.get(f"/api/campaigns/{created['id']}", headers=team[Role.VIEWER].headers)
    assert read.status_code == 200
    assert read.json() == created


async def test_listing_pages_filters_and_searches(client: httpx.AsyncClient, team: Team) -> None:
    ids = [
        (await create(client, team, name=f"Campaign {i}", subject="100% cotton" if i == 3 else "x"))["id"]
        for i in range(7)
    ]
    viewer = team[Role.VIEWER].headers
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/campaigns", params=params, headers=viewer)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)), "newest first, each exactly once"

    found = (await client.get("/api/campaigns", params={"q": "100%"}, headers=viewer)).json()["items"]
    assert [c["name"] for c in found] == ["Campaign 3"]  # % is a literal, not a wildcard
    assert (await client.get("/api/campaigns", params={"q": "CAMPAIGN 5"}, headers=viewer)).json()["items"][
        0
    ]["id"] == ids[5]

    await act(client, team, Role.EDITOR, ids[0], "submit")
    in_review = (await client.get("/api/campaigns", params={"status": "in_review"}, headers=viewer)).json()
    assert [c["id"] for c in in_review["items"]] == [ids[0]]


async def test_partial_update_and_lost_update_protection(client: httpx.AsyncClient, team: Team) -> None:
    campaign = await create(client, team, subject="Old")
    editor = team[Role.EDITOR].headers
    url = f"/api/campaigns/{campaign['id']}"
    updated = await client.patch(url, json={"subject": "New"}, headers={**editor, "If-Match": '"1"'})
    assert updated.status_code == 200
    assert updated.json()["subject"] == "New"
    assert updated.json()["name"] == "Spring sale"
    assert updated.headers["ETag"] == '"2"'
    stale = await client.patch(url, json={"subject": "Mine"}, headers={**editor, "If-Match": '"1"'})
    assert (stale.status_code, stale.json()["code"]) == (412, "stale_revision")
    bad = await client.patch(url, json={"subject": "Mine"}, headers={**editor, "If-Match": "yesterday"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_if_match")
    assert (await client.get(url, headers=editor)).json()["subject"] == "New"
    unchanged = await client.patch(url, json={"subject": "New"}, headers=editor)
    assert unchanged.json()["revision"] == 2, "a no-op edit is not a change"


async def test_review_approve_and_a_later_edit_voids_the_approval(
    client: httpx.AsyncClient, team: Team
) -> None:
    campaign = await create(client, team, subject="Hello")
    cid = campaign["id"]
    assert (await act(client, team, Role.EDITOR, cid, "submit")).json()["status"] == "in_review"
    approved = (await act(client, team, Role.REVIEWER, cid, "approve")).json()
    assert approved["status"] == "approved"
    assert approved["approved_by"] == str(team[Role.REVIEWER].id)
    assert approved["approved_at"]

    renamed = (
        await client.patch(
            f"/api/campaigns/{cid}", json={"name": "Internal name"}, headers=team[Role.EDITOR].headers
        )
    ).json()
    assert renamed["status"] == "approved", "the name is not content recipients see"
    edited = (
        await client.patch(
            f"/api/campaigns/{cid}", json={"subject": "Hello!"}, headers=team[Role.EDITOR].headers
        )
    ).json()
    assert edited["status"] == "draft"
    assert edited["approved_by"] is None
    assert edited["approved_at"] is None


async def test_invalid_transitions_are_conflicts(client: httpx.AsyncClient, team: Team) -> None:
    cid = (await create(client, team))["id"]
    refused = await act(client, team, Role.REVIEWER, cid, "approve")
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_transition")
    assert "draft" in refused.json()["detail"]
    assert (await client.get(f"/api/campaigns/{cid}", headers=team[Role.VIEWER].headers)).json()[
        "status"
    ] == "draft"


async def test_archive_hides_a_campaign_and_freezes_its_status(client: httpx.AsyncClient, team: Team) -> None:
    cid = (await create(client, team))["id"]
    editor = team[Role.EDITOR].headers
    archived = await client.post(f"/api/campaigns/{cid}/archive", headers=editor)
    assert archived.status_code == 200
    assert archived.json()["archived_at"]
    assert (await client.get("/api/campaigns", headers=editor)).json()["items"] == []
    listed = (await client.get("/api/campaigns", params={"archived": "true"}, headers=editor)).json()["items"]
    assert [c["id"] for c in listed] == [cid]
    blocked = await act(client, team, Role.EDITOR, cid, "submit")
    assert (blocked.status_code, blocked.json()["code"]) == (409, "archived")
    restored = await client.post(f"/api/campaigns/{cid}/unarchive", headers=editor)
    assert restored.json()["archived_at"] is None
    assert [c["id"] for c in (await client.get("/api/campaigns", headers=editor)).json()["items"]] == [cid]


async def test_sender_must_be_an_address(client: httpx.AsyncClient, team: Team) -> None:
    bad = await client.post(
        "/api/campaigns",
        json={"name": "x", "sender": "Acme <not an address>"},
        headers=team[Role.EDITOR].headers,
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_sender")
    assert bad.json()["errors"][0]["field"] == "sender"
    assert (await client.get("/api/campaigns", headers=team[Role.EDITOR].headers)).json()["items"] == []
    good = await client.post(
        "/api/campaigns",
        json={"name": "x", "sender": "news@acme.example.com"},
        headers=team[Role.EDITOR].headers,
    )
    assert good.status_code == 201


async def test_creating_a_campaign_writes_its_document_without_loading_its_room(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    """A room loaded for nobody used to stay a minute (and unloads in a wave of connections
    broke presence): the first document is written with the row, in its transaction."""
    campaign = await create(
        client, team, subject="Hello", preheader="Three days", sender="Acme <news@acme.example>"
    )
    assert services_of(app).rooms.rooms == {}
    assert (campaign["subject"], campaign["revision"], campaign["status"]) == ("Hello", 1, "draft")
    content = await client.get(f"/api/campaigns/{campaign['id']}/content", headers=team[Role.VIEWER].headers)
    assert content.status_code == 200, content.text
    assert (content.json()["subject"], content.json()["sender"]) == ("Hello", "Acme <news@acme.example>")
