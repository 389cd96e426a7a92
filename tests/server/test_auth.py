"""Sign-in, tokens, revocation, API keys and member management (invitations: test_invitations.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar

from justmaily.server.app import create_app
from justmaily.server.db.base import utcnow
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import TEST_PASSWORD, Team, http_client, seed_team, serving


async def login(
    client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD, **extra: str
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password, **extra})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_gives_tokens_that_identify_the_member(client: httpx.AsyncClient, team: Team) -> None:
    response = await login(client, "EDITOR@acme.example.com")
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["workspace"] == "acme"
    assert tokens["role"] == "editor"
    assert [w["workspace"] for w in tokens["workspaces"]] == ["acme"]
    me = (await client.get("/api/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "editor@acme.example.com"
    assert me["role"] == "editor"
    assert me["kind"] == "user"
    assert "campaigns:write" in me["permissions"]
    assert "campaigns:review" not in me["permissions"]
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"]


async def test_wrong_password_and_unknown_account_look_the_same(
    client: httpx.AsyncClient, team: Team
) -> None:
    wrong = await login(client, "editor@acme.example.com", "not the password")
    unknown = await login(client, "nobody@acme.example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_signing_in_to_a_workspace_one_is_not_in_is_refused(
    client: httpx.AsyncClient, team: Team
) -> None:
    response = await login(client, "editor@acme.example.com", workspace="rival")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"


async def test_failed_sign_ins_lock_the_source_not_the_account(settings: Settings) -> None:
    app = create_app(
        settings.replaced(login_failures_per_account_and_ip="3/minute", login_failures_per_ip="5/minute")
    )
    async with serving(app) as attacker, http_client(app, ip="192.0.2.7") as owner:
        await seed_team(app)
        for _ in range(3):
            assert (await login(attacker, "editor@acme.example.com", "guess")).status_code == 401
        refused = await login(attacker, "editor@acme.example.com")  # even the right password now
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # The owner, from their own address, is not locked out by someone else's guesses.
        assert (await login(owner, "editor@acme.example.com")).status_code == 200
        # The guessing address has a looser budget over all accounts.
        assert (await login(attacker, "viewer@acme.example.com", "guess")).status_code == 401
        assert (await login(attacker, "analyst@acme.example.com", "guess")).status_code == 401
        assert (await login(attacker, "viewer@acme.example.com")).status_code == 429
        assert (await login(owner, "viewer@acme.example.com")).status_code == 200


async def test_refresh_tokens_rotate_and_a_reused_one_ends_the_sign_in(
    client: httpx.AsyncClient, team: Team
) -> None:
    first = (await login(client, "viewer@acme.example.com")).json()
    second = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/auth/me", headers=bearer(rotated["access_token"]))).status_code == 200

    replay = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "token_reused"
    # The theft response revoked the whole family, including the token issued after it.
    after = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient, team: Team) -> None:
    tokens = (await login(client, "viewer@acme.example.com")).json()
    out = await client.post(
        "/api/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer(tokens["access_token"]),
    )
    assert out.status_code == 204
    again = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


async def test_logout_with_what_is_not_ones_refresh_token_is_refused_as_unprocessable(
    client: httpx.AsyncClient, team: Team
) -> None:
    """Well-formed JSON that names no refresh token of the caller: 422, not 400 (the body has the
    documented shape) nor 401 (the caller's own credentials are fine)."""
    viewer = await login(client, "viewer@acme.example.com")
    editor = await login(client, "editor@acme.example.com")
    for token in ("not a token", editor.json()["refresh_token"]):
        out = await client.post(
            "/api/auth/logout", json={"refresh_token": token}, headers=bearer(viewer.json()["access_token"])
        )
        assert (out.status_code, out.json()["code"]) == (422, "invalid_token"), out.text


async def test_tampered_foreign_and_wrong_type_tokens_are_refused(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    good = team[Role.VIEWER].token
    head, payload, signature = good.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    stranger = TokenSigner(Ed25519PrivateKey.generate())
    foreign = stranger.issue(
        "access", team[Role.VIEWER].id, utcnow(), timedelta(minutes=5), wsp=str(team.workspace_id)
    )[0]
    expired = services_of(app).signer.issue(
        "access",
        team[Role.VIEWER].id,
        utcnow() - timedelta(hours=1),
        timedelta(minutes=5),
        wsp=str(team.workspace_id),
    )[0]
    refresh = (await login(client, "viewer@acme.example.com")).json()["refresh_token"]
    for token in (tampered, foreign, expired, refresh, "not-a-jwt"):
        response = await client.get("/api/campaigns", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.json()["code"] == "invalid_token"
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_removing_a_member_or_changing_a_role_acts_at_once(
    client: httpx.AsyncClient, team: Team
) -> None:
    owner, editor = team[Role.OWNER], team[Role.EDITOR]
    assert (
        await client.post("/api/campaigns", json={"name": "x"}, headers=editor.headers)
    ).status_code == 201
    demoted = await client.patch(f"/api/members/{editor.id}", json={"role": "viewer"}, headers=owner.headers)
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "viewer"
    refused = await client.post("/api/campaigns", json={"name": "y"}, headers=editor.headers)
    assert refused.status_code == 403
    removed = await client.delete(f"/api/members/{editor.id}", headers=owner.headers)
    assert removed.status_code == 204
    assert (await client.get("/api/campaigns", headers=editor.headers)).status_code == 401


async def test_owner_role_rules(client: httpx.AsyncClient, team: Team) -> None:
    owner, admin = team[Role.OWNER], team[Role.ADMIN]
    promote = await client.patch(
        f"/api/members/{team[Role.VIEWER].id}", json={"role": "owner"}, headers=admin.headers
    )
    assert (promote.status_code, promote.json()["code"]) == (403, "owner_only")
    demote_owner = await client.patch(
        f"/api/members/{owner.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert (demote_owner.status_code, demote_owner.json()["code"]) == (403, "owner_only")
    last = await client.patch(f"/api/members/{owner.id}", json={"role": "admin"}, headers=owner.headers)
    assert (last.status_code, last.json()["code"]) == (409, "last_owner")
    leave = await client.delete(f"/api/members/{owner.id}", headers=owner.headers)
    assert (leave.status_code, leave.json()["code"]) == (409, "last_owner")


async def test_api_keys_act_within_their_scopes(client: httpx.AsyncClient, team: Team) -> None:
    owner = team[Role.OWNER].headers
    created = await client.post(
        "/api/api-keys", headers=owner, json={"name": "reader", "scopes": ["campaigns:read"]}
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("jm_")
    listed = (await client.get("/api/api-keys", headers=owner)).json()
    assert [k["name"] for k in listed] == ["reader"]
    assert "secret" not in listed[0]

    assert (await client.get("/api/campaigns", headers=bearer(secret))).status_code == 200
    assert (await client.get("/api/campaigns", headers={"X-API-Key": secret})).status_code == 200
    write = await client.post("/api/campaigns", json={"name": "x"}, headers=bearer(secret))
    assert (write.status_code, write.json()["code"]) == (403, "forbidden")
    me = (await client.get("/api/auth/me", headers=bearer(secret))).json()
    assert me["kind"] == "api_key"
    assert me["permissions"] == ["campaigns:read"]

    wrong_secret = secret[:-3] + ("AAA" if not secret.endswith("AAA") else "BBB")
    assert (await client.get("/api/campaigns", headers=bearer(wrong_secret))).status_code == 401
    assert (
        await client.delete(f"/api/api-keys/{created.json()['key']['id']}", headers=owner)
    ).status_code == 204
    revoked = await client.get("/api/campaigns", headers=bearer(secret))
    assert (revoked.status_code, revoked.json()["code"]) == (401, "invalid_api_key")


async def test_an_api_key_never_holds_more_than_its_creator(client: httpx.AsyncClient, team: Team) -> None:
    admin = team[Role.ADMIN]
    secret = (
        await client.post(
            "/api/api-keys",
            headers=admin.headers,
            json={"name": "writer", "scopes": ["campaigns:read", "campaigns:write"]},
        )
    ).json()["secret"]
    assert (
        await client.post("/api/campaigns", json={"name": "a"}, headers=bearer(secret))
    ).status_code == 201
    await client.patch(f"/api/members/{admin.id}", json={"role": "viewer"}, headers=team[Role.OWNER].headers)
    narrowed = await client.post("/api/campaigns", json={"name": "b"}, headers=bearer(secret))
    assert narrowed.status_code == 403


async def test_expired_api_keys_are_refused(client: httpx.AsyncClient, team: Team, app: Litestar) -> None:
    past = await client.post(
        "/api/api-keys",
        headers=team[Role.OWNER].headers,
        json={
            "name": "old",
            "scopes": ["campaigns:read"],
            "expires_at": (utcnow() - timedelta(minutes=1)).isoformat(),
        },
    )
    assert (past.status_code, past.json()["code"]) == (422, "invalid_expiry")
    soon = await client.post(
        "/api/api-keys",
        headers=team[Role.OWNER].headers,
        json={
            "name": "soon",
            "scopes": ["campaigns:read"],
            "expires_at": (utcnow() + timedelta(minutes=1)).isoformat(),
        },
    )
    secret = soon.json()["secret"]
    assert (await client.get("/api/campaigns", headers=bearer(secret))).status_code == 200
    from justmaily.server.identity.auth import AuthService

    services = services_of(app)
    async with services.database.session() as session:
        service = AuthService(session, services.signer, services.settings.identity, services.limiter)
        try:
            await service.principal_from_api_key(secret, now=utcnow() + timedelta(minutes=2))
        except Exception as exc:
            refusal = exc
        else:
            raise AssertionError("an expired key was accepted")
    assert getattr(refusal, "code", None) == "invalid_api_key"
