"""Bad input gets a 4xx problem+json that says what is wrong; nothing is written; serving goes on."""

from __future__ import annotations

import uuid
from unittest.mock import ANY

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from justmaily.server.app import create_app
from justmaily.server.campaigns.models import Campaign
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team, seed_team, serving


async def campaign_count(app: Litestar) -> int:
    async with services_of(app).database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Campaign)) or 0)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["title"]
    assert problem["request_id"] == response.headers["x-request-id"]
    return dict(problem)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "x",', None),  # malformed JSON
        (b'{"name": 5}', "name"),  # wrong type
        (b'{"name": "x", "colour": "red"}', "colour"),  # unknown field
        (b'{"subject": "no name"}', "name"),  # missing field
        (b'{"name": ""}', "name"),  # too short
        (b'["name"]', "object"),  # wrong shape
        (b"\xff\xfe not utf-8", None),
    ],
)
async def test_malformed_bodies_are_refused_and_nothing_is_written(
    app: Litestar, client: httpx.AsyncClient, team: Team, body: bytes, field: str | None
) -> None:
    response = await client.post(
        "/api/campaigns",
        content=body,
        headers={**team[Role.EDITOR].headers, "content-type": "application/json"},
    )
    problem = assert_problem(response, 400, "validation_error" if field else "bad_request")
    if field:
        assert field in str(problem["detail"]) + str(problem["errors"])
    assert await campaign_count(app) == 0
    assert (await client.get("/health/live")).status_code == 200


async def test_wrong_types_in_updates_and_transitions(client: httpx.AsyncClient, team: Team) -> None:
    editor = team[Role.EDITOR].headers
    cid = (await client.post("/api/campaigns", json={"name": "x"}, headers=editor)).json()["id"]
    assert_problem(
        await client.patch(f"/api/campaigns/{cid}", json={"subject": ["a"]}, headers=editor),
        400,
        "validation_error",
    )
    assert_problem(
        await client.post(f"/api/campaigns/{cid}/transitions", json={"action": "explode"}, headers=editor),
        400,
        "validation_error",
    )
    assert_problem(
        await client.post(
            "/api/invitations", json={"email": "a@b.c", "role": "emperor"}, headers=team[Role.OWNER].headers
        ),
        400,
        "validation_error",
    )
    campaign = (await client.get(f"/api/campaigns/{cid}", headers=editor)).json()
    assert campaign["revision"] == 1
    assert campaign["subject"] == ""


async def test_bodies_are_held_to_their_types_as_json_states_them(
    client: httpx.AsyncClient, team: Team
) -> None:
    """Not as Litestar's lenient conversion would take them: 0 is no boolean, "50" no number."""
    owner = team[Role.OWNER].headers
    created = await client.post("/api/lists", json={"name": "Strict"}, headers=owner)
    list_id = created.json()["id"]
    refused = await client.post(
        "/api/delivery/relays",
        json={"name": "r", "url": "smtp://relay.example", "max_per_second": "50"},
        headers=owner,
    )
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["errors"][0]["field"] == "max_per_second"
    assert_problem(await client.post("/api/lists", json={"name": 7}, headers=owner), 400, "validation_error")
    lists = (await client.get("/api/lists", headers=owner)).json()
    assert [item["id"] for item in lists] == [list_id]


async def test_oversized_bodies_are_refused(settings: Settings) -> None:
    app = create_app(settings.replaced(max_request_bytes=2048))
    async with serving(app) as client:
        team = await seed_team(app)
        body = {"name": "x", "subject": "s" * 4000}
        assert_problem(
            await client.post("/api/campaigns", json=body, headers=team[Role.EDITOR].headers),
            413,
            "payload_too_large",
        )
        assert await campaign_count(app) == 0
        assert (
            await client.post("/api/campaigns", json={"name": "fits"}, headers=team[Role.EDITOR].headers)
        ).status_code == 201


async def test_bad_ids_cursors_and_parameters(client: httpx.AsyncClient, team: Team) -> None:
    viewer = team[Role.VIEWER].headers
    assert_problem(await client.get("/api/campaigns/not-a-uuid", headers=viewer), 404, "not_found")
    assert_problem(await client.get(f"/api/campaigns/{uuid.uuid4()}", headers=viewer), 404, "not_found")
    assert_problem(
        await client.get("/api/campaigns", params={"cursor": "garbage!"}, headers=viewer),
        400,
        "invalid_cursor",
    )
    assert_problem(
        await client.get("/api/campaigns", params={"limit": 0}, headers=viewer), 400, "validation_error"
    )
    assert_problem(
        await client.get("/api/campaigns", params={"limit": "many"}, headers=viewer), 400, "validation_error"
    )
    assert_problem(
        await client.get("/api/campaigns", params={"status": "lost"}, headers=viewer), 400, "validation_error"
    )
    assert_problem(await client.get("/api/nowhere", headers=viewer), 404, "not_found")
    assert_problem(await client.put("/api/campaigns", headers=viewer), 405, "method_not_allowed")


async def test_what_the_document_cannot_rule_out_is_422_and_what_it_can_is_400(
    client: httpx.AsyncClient, team: Team
) -> None:
    """400: not the documented shape. 422: the documented shape, refused by a rule (schemathesis.toml)."""
    viewer, editor = team[Role.VIEWER].headers, team[Role.EDITOR].headers
    # Unpadded base64url, as documented, but not a cursor this server issued.
    assert_problem(
        await client.get("/api/campaigns", params={"cursor": "AAAA"}, headers=viewer), 422, "invalid_cursor"
    )
    assert_problem(
        await client.get("/api/contacts", params={"cursor": "AAAA"}, headers=editor), 422, "invalid_cursor"
    )
    # A tree-heads cursor is ASCII digits: "²" passes str.isdigit() and int() refuses it.
    tree_heads = await client.get("/api/transparency/tree-heads", params={"cursor": "\u00b2"}, headers=viewer)
    assert_problem(tree_heads, 400, "invalid_cursor")
    campaign = (await client.post("/api/campaigns", json={"name": "Bases"}, headers=editor)).json()
    content = f"/api/campaigns/{campaign['id']}/content"
    # The texts a base may name are the document's: any other is outside the documented shape.
    unknown = await client.patch(content, json={"body": "x", "base": {"footer": ""}}, headers=editor)
    assert_problem(unknown, 400, "validation_error")
    assert (
        await client.patch(content, json={"body": "x", "base": {"body": ""}}, headers=editor)
    ).status_code == 200
    # If-Match as documented: a revision, or `*` for whichever is current.
    url = f"/api/campaigns/{campaign['id']}"
    assert (
        await client.patch(url, json={"name": "Any"}, headers={**editor, "If-Match": "*"})
    ).status_code == 200
    assert (
        await client.patch(url, json={"name": "Two"}, headers={**editor, "If-Match": 'W/"2"'})
    ).status_code == 200
    assert_problem(
        await client.patch(url, json={"name": "?"}, headers={**editor, "If-Match": "3, 4"}),
        400,
        "invalid_if_match",
    )


async def test_other_workspaces_ids_are_not_found_and_untouched(
    client: httpx.AsyncClient, team: Team
) -> None:
    cid = (
        await client.post("/api/campaigns", json={"name": "mine"}, headers=team[Role.EDITOR].headers)
    ).json()["id"]
    attempt = await client.patch(f"/api/campaigns/{cid}", json={"name": "theirs"}, headers=team.rival.headers)
    assert_problem(attempt, 404, "not_found")
    assert (await client.get(f"/api/campaigns/{cid}", headers=team[Role.VIEWER].headers)).json()[
        "name"
    ] == "mine"


async def test_bad_login_bodies(client: httpx.AsyncClient, team: Team) -> None:
    assert_problem(await client.post("/api/auth/login", json={"email": "a@b.c"}), 400, "validation_error")
    assert_problem(
        await client.post("/api/auth/login", json={"email": "a@b.c", "password": "x", "admin": True}),
        400,
        "validation_error",
    )
    assert_problem(
        await client.post("/api/auth/refresh", json={"refresh_token": "x.y.z"}), 401, "invalid_token"
    )


# An editor's writes of each kind of text a NUL could be stored through, and sign-in (anonymous).
_NUL_BODIES = [
    ("POST", "/api/campaigns", {"name": "nul\u0000name"}, "name"),
    ("POST", "/api/contacts", {"email": "a@example.com", "name": "x\u0000"}, "name"),
    ("POST", "/api/contacts", {"email": "a@example.com", "attributes": {"pl\u0000n": "x"}}, "attributes"),
    ("POST", "/api/lists", {"name": "lists", "description": ["x", "y\u0000"]}, "description[1]"),
]


async def test_whole_numbers_written_with_a_fraction_are_integers_as_json_schema_says(
    client: httpx.AsyncClient, team: Team
) -> None:
    """JSON Schema's `integer` is any number without a fractional part, `50.0` too; 50.5 is not."""
    owner = team[Role.OWNER].headers
    made = await client.post(
        "/api/delivery/relays",
        json={"name": "r", "url": "smtp://relay.example", "max_per_second": 50.0},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    assert made.json()["max_per_second"] == 50
    refused = await client.post(
        "/api/delivery/relays",
        json={"name": "r2", "url": "smtp://relay2.example", "max_per_second": 50.5},
        headers=owner,
    )
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["errors"][0]["field"] == "max_per_second"


async def test_nul_characters_are_refused_before_the_database(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    """PostgreSQL cannot store U+0000: it used to be a 500 (logging the statement's parameters)."""
    editor = team[Role.EDITOR].headers
    for method, path, body, field in _NUL_BODIES:
        problem = assert_problem(
            await client.request(method, path, json=body, headers=editor), 400, "nul_character"
        )
        assert problem["errors"] == [{"field": field, "message": ANY}], problem
    sign_in = await client.post(
        "/api/auth/login", json={"email": "editor@acme.example.com\u0000", "password": "x"}
    )
    assert_problem(sign_in, 400, "nul_character")
    assert_problem(
        await client.get("/api/contacts", params={"filter": "has a\u0000"}, headers=editor),
        400,
        "nul_character",
    )
    assert_problem(
        await client.delete("/api/suppressions/a%00@example.com", headers=team[Role.OWNER].headers),
        400,
        "nul_character",
    )
    assert await campaign_count(app) == 0
    assert (await client.get("/api/contacts", headers=editor)).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a@b.c", "password": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"email": "\xff\xfe@b.c", "password": "x"}',
        b'{"email": "a@b.c", "password": "\xc3("}',
    ],
    ids=["nested-1000-deep", "not-utf8-in-a-string", "truncated-utf8"],
)
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/campaigns"])
async def test_unusable_json_is_a_bad_request_on_any_route(
    client: httpx.AsyncClient, team: Team, body: bytes, path: str
) -> None:
    response = await client.post(
        path, content=body, headers={**team[Role.EDITOR].headers, "content-type": "application/json"}
    )
    problem = assert_problem(response, 400, "bad_request")
    assert str(problem["detail"]).startswith("JSON is malformed")
    assert (await client.get("/health/live")).status_code == 200
