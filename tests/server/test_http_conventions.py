"""Request ids, problem+json, rate limits, and the OpenAPI 3.1 document."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute

from justmaily.server.app import create_app
from justmaily.server.http.policy import PUBLIC
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team, http_client, running, seed_team, serving


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient, team: Team) -> None:
    responses = [
        await client.get("/health/live"),
        await client.get("/api/campaigns", headers=team[Role.VIEWER].headers),
        await client.get("/api/campaigns"),  # 401 from the authentication middleware
        await client.get("/nowhere"),  # 404 from routing
        await client.post("/api/campaigns", content=b"{", headers=team[Role.EDITOR].headers),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)
    for response in responses[2:]:
        assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_sane_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    kept = await client.get("/health/live", headers={"X-Request-ID": "trace-1234abcd"})
    assert kept.headers["x-request-id"] == "trace-1234abcd"
    replaced = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith junk"})
    assert replaced.headers["x-request-id"] != "bad id\twith junk"


async def test_rate_limits_per_ip_and_per_principal(settings: Settings) -> None:
    limited = settings.replaced(rate_limit_per_ip="6/minute", rate_limit_per_principal="3/minute")
    app = create_app(limited)

    async with running(app), http_client(app, "127.0.0.1") as one, http_client(app, "127.0.0.2") as two:
        team = await seed_team(app)
        viewer, editor = team[Role.VIEWER].headers, team[Role.EDITOR].headers
        statuses = [(await one.get("/api/campaigns", headers=viewer)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429], "per principal: 3 a minute"
        refused = await one.get("/api/campaigns", headers=viewer)
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await one.get("/api/campaigns", headers=editor)).status_code == 200, (
            "others keep their budget"
        )
        # Six requests from 127.0.0.1 so far: its address budget is spent, for anyone.
        by_ip = await one.get("/health/live")
        assert by_ip.status_code == 429
        assert "Retry-After" in by_ip.headers
        assert (await two.get("/health/live")).status_code == 200


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


async def test_openapi_document_is_3_1_with_examples_and_errors(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    response = await client.get("/schema/openapi.json", headers=team[Role.VIEWER].headers)
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1.")
    assert {"BearerToken", "ApiKey"} <= set(schema["components"]["securitySchemes"])
    for method, path, op in _operations(schema):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        assert {"429", "500"} <= set(responses), where
        # No sign-in: no 401/403 (/metrics takes its own scrape token: 401 only).
        public = path.startswith(("/health", "/t/", "/u/", "/c/", "/hooks/", "/metrics"))
        if not public and path not in ("/api/auth/login", "/api/auth/refresh", "/api/invitations/accept"):
            assert {"401", "403"} <= set(responses), where
        for status, spec in responses.items():
            if int(status) >= 400:
                # Errors are problem+json; only a probe's 503 is its own status document.
                media = (
                    "application/json"
                    if (path.startswith("/health") and status == "503")
                    else "application/problem+json"
                )
                assert spec["content"][media]["examples"], f"{where} {status} has no example"
        successes = [spec for status, spec in responses.items() if int(status) < 300 and "content" in spec]
        for spec in successes:
            content = spec["content"].get("application/json")
            if content is None:  # a CSV download, the open pixel, the unsubscribe page
                assert spec["description"], f"{where} has no response description"
                continue
            assert content.get("examples") or content["schema"].get("examples"), (
                f"{where} has no response example"
            )
        if "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]
            assert body["schema"].get("examples") or body.get("examples"), f"{where} has no request example"


async def test_openapi_document_needs_sign_in_unless_made_public(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/schema/openapi.json")).status_code == 401
    app = create_app(settings.replaced(public_api_docs=True))
    async with serving(app) as public:
        assert (await public.get("/schema/openapi.json")).status_code == 200


async def test_a_budget_of_several_rates_holds_each(settings: Settings) -> None:
    app = create_app(settings.replaced(rate_limit_per_ip="100/minute;3/hour"))
    async with serving(app) as client:
        statuses = [(await client.get("/health/live")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert "3 per 1 hour" in (await client.get("/health/live")).json()["detail"]


def _operation_handlers(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, document path, handler) of every documented operation."""
    return [
        (method, route.path_format, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _) in route.route_handler_map.items()
        if handler.resolve_include_in_schema()
    ]


async def test_openapi_document_says_which_routes_need_credentials(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    schema = (await client.get("/schema/openapi.json", headers=team[Role.VIEWER].headers)).json()
    assert "security" not in schema, "no document-wide requirement: each operation states its own"
    public = set()
    for method, path, handler in _operation_handlers(app):
        op = schema["paths"][path][method.lower()]
        if handler.opt.get(PUBLIC):
            public.add(f"{method} {path}")
            assert "security" not in op, f"{method} {path} is public"
            # Sign-in, accepting an invitation (an account's own password) and the scrape token of
            # /metrics may answer 401.
            signs_in = path.startswith(("/hooks/", "/api/auth/")) or path in (
                "/api/invitations/accept",
                "/metrics",
            )
            assert not {"401", "403"} & set(op["responses"]) or signs_in
        else:
            assert op["security"] == [{"BearerToken": []}, {"ApiKey": []}], f"{method} {path}"
            assert {"401", "403"} <= set(op["responses"]), f"{method} {path}"
        if "{" in path:
            assert "404" in op["responses"], f"{method} {path}: an id that is not there"
    assert {"GET /health/live", "POST /api/auth/login", "GET /t/o/{token}", "GET /u/{token}"} <= public
    assert {"POST /hooks/{workspace_id}/ses", "POST /c/{token}"} <= public


async def test_openapi_request_bodies_are_closed_and_bounds_of_zero_are_documented(
    client: httpx.AsyncClient, team: Team
) -> None:
    schema = (await client.get("/schema/openapi.json", headers=team[Role.VIEWER].headers)).json()
    components = schema["components"]["schemas"]
    bodies = [
        op["requestBody"]["content"]["application/json"]["schema"]
        for _, _, op in _operations(schema)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert len(bodies) >= 24
    for body in bodies:
        name = body["allOf"][0]["$ref"].rsplit("/", 1)[1]
        assert components[name]["additionalProperties"] is False, f"{name}: the server refuses other fields"
    assert components["WinnerChoice"]["properties"]["variant"]["minimum"] == 0
    inclusion = schema["paths"]["/api/transparency/entries/{index}/inclusion"]["get"]["parameters"]
    assert next(p for p in inclusion if p["name"] == "tree_size")["schema"]["minimum"] == 0
    # A whole number is both an `integer` and a `number`: `oneOf` would refuse it.
    values = components["ContactCreate"]["properties"]["attributes"]["additionalProperties"]
    assert "oneOf" not in values
    assert {branch["type"] for branch in values["anyOf"]} >= {"integer", "number"}
    # The server refuses NUL in text (PostgreSQL cannot hold it): free text and keys say so.
    no_nul = "^[^\\u0000]*$"
    assert components["CampaignCreate"]["properties"]["name"]["pattern"] == no_nul
    assert components["ContactCreate"]["properties"]["attributes"]["propertyNames"]["pattern"] == no_nul
    assert re.fullmatch(no_nul, "a\x00b") is None
    assert re.fullmatch(no_nul, "ab")


async def test_options_lists_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    for path in ("/u/some-token", "/c/some-token", "/api/campaigns"):
        answer = await client.options(path)
        assert answer.status_code == 204, path
        assert answer.headers["allow"] == "GET, OPTIONS, POST", path
