"""People join a workspace by invitation: the inviter learns nothing about accounts, and only
the invitee, with the account's password or a new one, makes the membership."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import update

from justmaily.server.db.base import utcnow
from justmaily.server.identity.models import Invitation
from justmaily.server.services import services_of
from justmaily.shared.roles import Role
from tests.plugins.api import TEST_PASSWORD, Team
from tests.server.test_auth import login

NEW_PASSWORD = "a long enough passphrase"


async def invite(client: httpx.AsyncClient, team: Team, email: str, role: str = "viewer") -> httpx.Response:
    return await client.post(
        "/api/invitations", json={"email": email, "role": role}, headers=team[Role.ADMIN].headers
    )


async def accept(client: httpx.AsyncClient, token: str, password: str, **extra: str) -> httpx.Response:
    return await client.post("/api/invitations/accept", json={"token": token, "password": password, **extra})


def _shape(answer: dict[str, Any]) -> dict[str, Any]:
    """What may differ between two invitations: the id, the address, the times and the token."""
    invitation = answer["invitation"]
    return {
        "keys": sorted(answer),
        "invitation_keys": sorted(invitation),
        "role": invitation["role"],
        "invited_by": invitation["invited_by"],
        "token_length": len(answer["token"]),
    }


async def _members(client: httpx.AsyncClient, team: Team) -> list[str]:
    listed = await client.get("/api/members", headers=team[Role.OWNER].headers)
    return sorted(m["email"] for m in listed.json())


async def test_inviting_says_nothing_about_accounts_and_adds_no_one(
    client: httpx.AsyncClient, team: Team
) -> None:
    known = await invite(client, team, team.rival.email)  # an account, of another workspace
    unknown = await invite(client, team, "nobody-yet@example.com")
    assert known.status_code == unknown.status_code == 201, known.text
    assert _shape(known.json()) == _shape(unknown.json())
    assert team.rival.email == known.json()["invitation"]["email"]
    assert str(team.rival.id) not in known.text
    assert "Rival" not in known.text  # the account's display name
    # Nobody became a member, and the rival cannot sign in to acme.
    assert team.rival.email not in await _members(client, team)
    refused = await login(client, team.rival.email, workspace="acme")
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_member")
    pending = (await client.get("/api/invitations", headers=team[Role.ADMIN].headers)).json()
    assert sorted(i["email"] for i in pending) == ["nobody-yet@example.com", team.rival.email]
    assert all("token" not in i for i in pending)


async def test_an_existing_account_joins_only_with_its_own_password(
    client: httpx.AsyncClient, team: Team
) -> None:
    token = (await invite(client, team, team.rival.email, "editor")).json()["token"]
    wrong = await accept(client, token, "attacker chosen password")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
    assert team.rival.email not in await _members(client, team)
    joined = await accept(client, token, TEST_PASSWORD)
    assert joined.status_code == 200, joined.text
    assert (joined.json()["workspace"], joined.json()["role"]) == ("acme", "editor")
    assert sorted(w["workspace"] for w in joined.json()["workspaces"]) == ["acme", "rival"]
    assert team.rival.email in await _members(client, team)
    again = await accept(client, token, TEST_PASSWORD)
    assert (again.status_code, again.json()["code"]) == (404, "not_found")  # good once
    assert (await login(client, team.rival.email, "attacker chosen password")).status_code == 401


async def test_the_invitee_makes_a_new_account(client: httpx.AsyncClient, team: Team) -> None:
    token = (await invite(client, team, "Grace@Example.com", "reviewer")).json()["token"]
    short = await accept(client, token, "short")
    assert (short.status_code, short.json()["code"]) == (422, "weak_password")
    assert short.json()["errors"][0]["field"] == "password"
    joined = await accept(client, token, NEW_PASSWORD, display_name="Grace Hopper")
    assert joined.status_code == 200, joined.text
    assert joined.json()["role"] == "reviewer"
    me = (
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {joined.json()['access_token']}"})
    ).json()
    assert (me["email"], me["display_name"]) == ("grace@example.com", "Grace Hopper")
    assert (await login(client, "grace@example.com", NEW_PASSWORD)).status_code == 200


async def test_invitations_are_revoked_replaced_expire_and_die_with_their_senders_rights(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    admin = team[Role.ADMIN].headers
    first = (await invite(client, team, "a@example.com")).json()
    second = (await invite(client, team, "a@example.com")).json()  # replaces the first
    assert (await accept(client, first["token"], NEW_PASSWORD)).status_code == 404
    revoked = await client.delete(f"/api/invitations/{second['invitation']['id']}", headers=admin)
    assert revoked.status_code == 204
    assert (await accept(client, second["token"], NEW_PASSWORD)).status_code == 404
    assert (await client.get("/api/invitations", headers=admin)).json() == []

    late = (await invite(client, team, "late@example.com")).json()
    async with services_of(app).database.session() as session, session.begin():
        await session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await accept(client, late["token"], NEW_PASSWORD)
    assert (expired.status_code, expired.json()["code"]) == (410, "invitation_expired")

    sent = (await invite(client, team, "orphan@example.com", "editor")).json()
    await client.patch(
        f"/api/members/{team[Role.ADMIN].id}", json={"role": "viewer"}, headers=team[Role.OWNER].headers
    )
    void = await accept(client, sent["token"], NEW_PASSWORD)
    assert (void.status_code, void.json()["code"]) == (410, "invitation_void")
    assert "orphan@example.com" not in await _members(client, team)


async def test_who_may_invite_whom(client: httpx.AsyncClient, team: Team) -> None:
    owner_role = await invite(client, team, "boss@example.com", "owner")
    assert (owner_role.status_code, owner_role.json()["code"]) == (403, "owner_only")
    member = await invite(client, team, team[Role.EDITOR].email)
    assert (member.status_code, member.json()["code"]) == (409, "already_member")
    by_owner = await client.post(
        "/api/invitations",
        json={"email": "boss@example.com", "role": "owner"},
        headers=team[Role.OWNER].headers,
    )
    assert by_owner.status_code == 201
    # Adding someone directly is gone: there is no way to make a membership without its person.
    gone = await client.post(
        "/api/members",
        json={"email": team.rival.email, "role": "viewer", "password": NEW_PASSWORD},
        headers=team[Role.ADMIN].headers,
    )
    assert gone.status_code == 405
    assert team.rival.email not in await _members(client, team)
