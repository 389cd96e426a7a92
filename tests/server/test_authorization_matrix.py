"""Every route x every role (and anonymous, and another workspace) against docs/security.md."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from litestar import Litestar
from litestar.handlers import WebsocketRouteHandler
from sqlalchemy import update

from justmaily.server.campaigns.editing import SENDING_ACTIONS
from justmaily.server.campaigns.models import Campaign
from justmaily.server.db.base import utcnow
from justmaily.server.delivery.models import Send
from justmaily.server.identity.guards import handlers_of, route_policy
from justmaily.server.identity.models import Membership, User
from justmaily.server.mesh import registry
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.campaigns import TRANSITIONS, CampaignAction
from justmaily.shared.delivery import SendStatus
from justmaily.shared.roles import ROLE_PERMISSIONS, Permission, Role
from tests.plugins.api import Team

SECURITY_DOC = Path(__file__).parents[2] / "docs" / "security.md"
ROLES = list(Role)
_ROW = re.compile(r"^\|\s*`(?P<method>[A-Z]+) (?P<path>[^`]+)`\s*\|(?P<rest>.*)\|\s*$")
_ACTION_ROW = re.compile(r"^\|\s*(?P<action>[a-z_]+)\s*\|(?P<rest>.*)\|\s*$")
TRANSITIONS_PATH = "/api/campaigns/{campaign_id}/transitions"
# The installation's, not a workspace's: every workspace's admins see the same (docs/mesh.md).
INSTALLATION_WIDE = frozenset({"/api/mesh/agents/{agent_id}"})


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Every route, by every role, in one test: more requests than the default per-IP budget."""
    return Settings.of(
        database_url=database_url,
        data_dir=str(tmp_path / "data"),
        rate_limit_per_ip="100000/minute",
        rate_limit_per_principal="100000/minute",
        smtp_allow_private_relays=True,  # a relay on loopback, for the relay routes
    )


def _cells(rest: str) -> list[str]:
    return [cell.strip() for cell in rest.split("|")]


def documented_routes() -> dict[tuple[str, str], tuple[str, dict[Role, bool] | None]]:
    routes = {}
    for line in SECURITY_DOC.read_text().splitlines():
        if match := _ROW.match(line):
            policy, *marks = _cells(match["rest"])
            allowed = dict(zip(ROLES, (m == "✓" for m in marks), strict=True)) if marks[0] in "✓✗" else None
            routes[match["method"], match["path"]] = (policy, allowed)
    return routes


def documented_actions() -> dict[CampaignAction, tuple[str, dict[Role, bool]]]:
    actions = {}
    section = SECURITY_DOC.read_text().split("### Campaign actions", 1)[1]
    for line in section.splitlines():
        if (match := _ACTION_ROW.match(line)) and match["action"] in CampaignAction.__members__.values():
            _from, _to, permission, *marks = _cells(match["rest"])
            actions[CampaignAction(match["action"])] = (
                permission,
                dict(zip(ROLES, (m == "✓" for m in marks), strict=True)),
            )
    return actions


def app_routes(app: Litestar) -> dict[tuple[str, str], str]:
    """(method, path) -> policy, for every route the app serves (Litestar's automatic OPTIONS aside)."""
    found = {}
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in handlers_of(route):
            methods = (
                ("WEBSOCKET",)
                if isinstance(handler, WebsocketRouteHandler)
                else getattr(handler, "http_methods", ())
            )
            for method in methods:
                if method != "OPTIONS":
                    found[method, path] = route_policy(handler)
    return found


def doc_row_for(method: str, path: str, doc: dict[tuple[str, str], Any]) -> tuple[str, str] | None:
    if (method, path) in doc:
        return method, path
    for doc_method, doc_path in doc:
        if doc_method == method and doc_path.endswith("/*") and path.startswith(doc_path[:-1].rstrip("/")):
            return doc_method, doc_path
    return None


def test_every_route_has_a_documented_policy(app: Litestar) -> None:
    doc = documented_routes()
    served = app_routes(app)
    undocumented = [f"{m} {p}" for m, p in served if doc_row_for(m, p, doc) is None]
    assert not undocumented, f"add these routes to docs/security.md: {undocumented}"
    for (method, path), policy in served.items():
        row = doc_row_for(method, path, doc)
        assert row is not None
        documented_policy = doc[row][0].split(" + ")[0]
        assert documented_policy == policy, (
            f"{method} {path}: code says {policy}, docs say {documented_policy}"
        )
    stale = [f"{m} {p}" for m, p in doc if not any(doc_row_for(sm, sp, {(m, p): None}) for sm, sp in served)]
    assert not stale, f"docs/security.md lists routes the app does not serve: {stale}"


def test_documented_marks_follow_the_role_permissions() -> None:
    for (method, path), (policy, allowed) in documented_routes().items():
        if allowed is None:
            continue
        for role in ROLES:
            expected = (
                policy in ("public", "signed-in", "ticket") or Permission(policy) in ROLE_PERMISSIONS[role]
            )
            assert allowed[role] == expected, f"{method} {path} for {role}"
    actions = documented_actions()
    assert set(actions) == set(CampaignAction)
    for action, (permission, allowed) in actions.items():
        assert permission == TRANSITIONS[action].permission
        for role in ROLES:
            assert allowed[role] == (TRANSITIONS[action].permission in ROLE_PERMISSIONS[role]), (
                f"{action} {role}"
            )


def _example_body(app: Litestar, method: str, path: str) -> Any:
    paths = app.openapi_schema.paths
    assert paths is not None
    operation = getattr(paths[path], method.lower())
    if operation.request_body is None:
        return None
    examples = operation.request_body.content["application/json"].schema.examples
    assert examples, f"{method} {path} documents no request example"
    return examples[0] if isinstance(examples, list) else next(iter(examples.values())).value


async def _fixtures(app: Litestar, client: httpx.AsyncClient, team: Team) -> dict[str, str]:
    """Ids to put into paths: a campaign, a member who can be removed, an API key."""
    owner = team[Role.OWNER].headers
    campaign = (await client.post("/api/campaigns", json={"name": "Matrix"}, headers=owner)).json()
    key = (
        await client.post("/api/api-keys", json={"name": "k", "scopes": ["campaigns:read"]}, headers=owner)
    ).json()
    async with services_of(app).database.session() as session, session.begin():
        target = User(email="target@acme.example.com", password_hash="x")
        session.add(target)
        await session.flush()
        session.add(Membership(workspace_id=team.workspace_id, user_id=target.id, role=Role.VIEWER))
    version = (
        await client.post(f"/api/campaigns/{campaign['id']}/versions", json={"name": "v"}, headers=owner)
    ).json()
    comment = (
        await client.post(
            f"/api/campaigns/{campaign['id']}/comments",
            json={"text": "m", "start": 0, "end": 0},
            headers=owner,
        )
    ).json()
    contact = (await client.post("/api/contacts", json={"email": "m@example.com"}, headers=owner)).json()
    contact_list = (await client.post("/api/lists", json={"name": "M"}, headers=owner)).json()
    segment = (
        await client.post("/api/segments", json={"name": "S", "filter": "has plan"}, headers=owner)
    ).json()
    contact_import = (await client.post("/api/imports", json={"consent_source": "m"}, headers=owner)).json()
    domain = (await client.post("/api/delivery/domains", json={"domain": "m.example"}, headers=owner)).json()
    relay = (
        await client.post(
            "/api/delivery/relays", json={"name": "m", "url": "smtp://127.0.0.1:9"}, headers=owner
        )
    ).json()
    invitation = (
        await client.post(
            "/api/invitations", json={"email": "i@example.com", "role": "viewer"}, headers=owner
        )
    ).json()
    credential = (
        await client.post(
            "/api/service-credentials", json={"name": "matrix", "role": "viewer"}, headers=owner
        )
    ).json()
    hold = (await client.post("/api/retention/holds", json={"reason": "matrix hold"}, headers=owner)).json()
    mesh = services_of(app).mesh
    assert mesh is not None
    await registry.publish(services_of(app).database, list(mesh.engine.agents.values()), mesh.host)
    async with services_of(app).database.session() as session, session.begin():
        send = Send(
            workspace_id=team.workspace_id,
            campaign_id=uuid.UUID(campaign["id"]),
            status=SendStatus.PAUSED,
            content={},
            content_hash="0" * 64,
            send_at=utcnow(),
            created_by=team[Role.OWNER].id,
        )
        session.add(send)
    return {
        "campaign_id": campaign["id"],
        "user_id": str(target.id),
        "key_id": key["key"]["id"],
        "version_id": version["id"],
        "comment_id": comment["id"],
        "path": "no-such-document",
        "contact_id": contact["id"],
        "list_id": contact_list["id"],
        "segment_id": segment["id"],
        "import_id": contact_import["id"],
        "email": "m@example.com",
        "domain_id": domain["id"],
        "relay_id": relay["id"],
        "send_id": str(send.id),
        "token": "not-a-token",
        "workspace_id": str(team.workspace_id),
        "index": "999999999",  # entry visibility by workspace: tests/server/trust
        "serial": "abc123",
        "credential_id": credential["credential"]["id"],
        "invitation_id": invitation["invitation"]["id"],
        "message_id": "no-such-message@m.example",
        "hold_id": hold["id"],
        "agent_id": str(next(iter(mesh.engine.agents))),
    }


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, str | None]:
    if path.endswith("/stream"):  # an event stream never ends: its answer's start is the answer
        return await _stream_start(client, path, headers)
    response = await client.request(method, path, json=body, headers=headers)
    problem = (
        response.json() if response.headers.get("content-type", "").startswith("application/problem") else {}
    )
    return response.status_code, problem.get("code")


async def _stream_start(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> tuple[int, str | None]:
    """The status (and a refusal's code) of an event stream, called on the app itself: httpx's
    in-process transport would wait for a body that never ends."""
    transport = client._transport  # the ASGITransport of tests/plugins/api.py
    assert isinstance(transport, httpx.ASGITransport)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **headers}.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    answer: dict[str, Any] = {}
    done = anyio.Event()

    async def receive() -> dict[str, Any]:
        if "asked" not in answer:
            answer["asked"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            if message["status"] < 400:
                done.set()
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")
            if not message.get("more_body"):
                done.set()

    async def serve() -> None:
        await transport.app(scope, receive, send)  # type: ignore[arg-type]

    async with anyio.create_task_group() as group:
        group.start_soon(serve)
        with anyio.fail_after(10):
            await done.wait()
        group.cancel_scope.cancel()
    code = json.loads(answer["body"]).get("code") if answer.get("body") and answer["status"] >= 400 else None
    return int(answer["status"]), code


async def test_routes_behave_as_documented(app: Litestar, client: httpx.AsyncClient, team: Team) -> None:
    doc = documented_routes()
    ids = await _fixtures(app, client, team)
    failures = []
    for (method, path), policy in sorted(app_routes(app).items()):
        if path == TRANSITIONS_PATH or method == "WEBSOCKET":
            continue  # per action, below; rooms in tests/server/collaboration
        body = _example_body(app, method, path) if not path.startswith("/schema") else None
        url = _fill(path, ids)
        row = doc_row_for(method, path, doc)
        assert row is not None
        allowed = doc[row][1]
        assert allowed is not None
        for role in ROLES:
            status, code = await _call(client, method, url, body, team[role].headers)
            refused = status == 403 and code == "forbidden"
            if refused == allowed[role] or code == "not_authenticated":
                failures.append(f"{role} {method} {url}: {status} {code}, documented {allowed[role]}")
        status, code = await _call(client, method, url, body, {})
        if (policy == "public") == (code == "not_authenticated") or (policy != "public" and status != 401):
            failures.append(f"anonymous {method} {url}: {status} {code}")
    assert not failures, "\n".join(failures)


async def test_other_workspaces_resources_do_not_exist_for_them(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    ids = await _fixtures(app, client, team)
    for (method, path), _policy in sorted(app_routes(app).items()):
        if "{" not in path or path.startswith("/schema") or method == "WEBSOCKET":
            continue
        if path in INSTALLATION_WIDE:
            status, _ = await _call(client, method, _fill(path, ids), None, team.rival.headers)
            assert status == 200, f"{method} {path} gave {status} to another workspace's owner"
            continue
        body = {"action": "submit"} if path == TRANSITIONS_PATH else _example_body(app, method, path)
        status, code = await _call(client, method, _fill(path, ids), body, team.rival.headers)
        assert (status, code) == (404, "not_found"), (
            f"{method} {path} gave {status} {code} to another workspace"
        )
    listing = (await client.get("/api/campaigns", headers=team.rival.headers)).json()
    assert listing["items"] == []
    members = (await client.get("/api/members", headers=team.rival.headers)).json()
    assert [m["email"] for m in members] == [team.rival.email]
    keys = (await client.get("/api/api-keys", headers=team.rival.headers)).json()
    assert keys == []
    invitations = (await client.get("/api/invitations", headers=team.rival.headers)).json()
    assert invitations == []


@pytest.mark.parametrize("action", list(CampaignAction))
async def test_campaign_actions_behave_as_documented(
    app: Litestar, client: httpx.AsyncClient, team: Team, action: CampaignAction
) -> None:
    _permission, allowed = documented_actions()[action]
    campaign = (
        await client.post("/api/campaigns", json={"name": "A"}, headers=team[Role.EDITOR].headers)
    ).json()
    source = sorted(TRANSITIONS[action].sources)[0]
    body: dict[str, Any] = {"action": action.value}
    if action == CampaignAction.SCHEDULE:
        body["send_at"] = (utcnow() + timedelta(days=1)).isoformat()
    for role in ROLES:
        # Put the campaign where the action starts, as if it had been sent to review as it is.
        digest = (
            await client.get(f"/api/campaigns/{campaign['id']}/content", headers=team[Role.VIEWER].headers)
        ).json()["content_hash"]
        async with services_of(app).database.session() as session, session.begin():
            await session.execute(
                update(Campaign)
                .where(Campaign.id == uuid.UUID(campaign["id"]))
                .values(status=source, review_hash=digest)
            )
        status, code = await _call(
            client, "POST", f"/api/campaigns/{campaign['id']}/transitions", body, team[role].headers
        )
        if allowed[role] and action in SENDING_ACTIONS:  # allowed, through the sends API
            assert (status, code) == (409, "use_sends"), f"{role} {action}: {status} {code}"
        elif allowed[role]:
            assert status == 200, f"{role} {action}: {status} {code}"
        else:
            assert (status, code) == (403, "forbidden"), f"{role} {action}: {status} {code}"
