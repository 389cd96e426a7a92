"""Service credentials: issued by an admin, used through short-lived tokens, renewed, revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import delete

from justmaily.server.identity.models import Membership
from justmaily.server.services import services_of
from justmaily.server.trust.ca import CertificateAuthority, pem
from justmaily.shared.roles import Role
from justmaily.shared.verify.service_tokens import make_service_token
from tests.plugins.api import Team

AUDIENCE = "http://127.0.0.1:8000"  # the test settings' public URL

pytestmark = pytest.mark.backends("sqlite")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue(client: httpx.AsyncClient, team: Team, role: str = "editor") -> dict[str, Any]:
    response = await client.post(
        "/api/service-credentials", json={"name": "agent-7", "role": role}, headers=team[Role.ADMIN].headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def token_of(issued: dict[str, Any], *, now: datetime | None = None, lifetime: int = 300) -> str:
    return make_service_token(
        issued["certificate_pem"], issued["private_key_pem"], audience=AUDIENCE, now=now, lifetime=lifetime
    )


async def test_a_service_works_within_its_role_renews_itself_and_stops_when_revoked(
    client: httpx.AsyncClient, team: Team
) -> None:
    issued = await issue(client, team)
    credential = issued["credential"]
    assert (credential["role"], credential["status"]) == ("editor", "valid")
    token = token_of(issued)
    created = await client.post("/api/campaigns", json={"name": "By the agent"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert (await client.get("/api/members", headers=bearer(token))).status_code == 403  # not an editor's
    listed = (await client.get("/api/service-credentials", headers=team[Role.ADMIN].headers)).json()
    assert [c["name"] for c in listed] == ["agent-7"]
    assert (await client.get("/api/service-credentials", headers=bearer(token))).status_code == 403

    renewed = await client.post("/api/service-credentials/self/renew", headers=bearer(token))
    assert renewed.status_code == 201, renewed.text
    fresh = renewed.json()
    assert fresh["credential"]["renewed_from"] == credential["id"]
    assert fresh["credential"]["serial"] != credential["serial"]
    assert (await client.get("/api/campaigns", headers=bearer(token_of(fresh)))).status_code == 200
    assert (await client.get("/api/campaigns", headers=bearer(token))).status_code == 200  # no gap
    person = await client.post("/api/service-credentials/self/renew", headers=team[Role.ADMIN].headers)
    assert (person.status_code, person.json()["code"]) == (409, "not_a_service")

    twice = await client.post("/api/service-credentials/self/renew", headers=bearer(token))
    assert (twice.status_code, twice.json()["code"]) == (409, "already_renewed")  # one live successor

    revoked = await client.delete(
        f"/api/service-credentials/{credential['id']}",
        headers=team[Role.ADMIN].headers,
    )
    assert revoked.status_code == 204
    refused = await client.get("/api/campaigns", headers=bearer(token))
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_service_token")
    assert "revoked" in refused.json()["detail"]
    # Whoever renewed it held its key: its renewals end with it.
    assert (await client.get("/api/campaigns", headers=bearer(token_of(fresh)))).status_code == 401
    crl = (await client.get("/api/transparency/crl", headers=team[Role.VIEWER].headers)).text
    assert crl.startswith("-----BEGIN X509 CRL-----")


async def test_forged_expired_stale_and_misaddressed_tokens_are_refused(
    app: Litestar, client: httpx.AsyncClient, team: Team, tmp_path: Path
) -> None:
    issued = await issue(client, team)
    good = token_of(issued)
    assert (await client.get("/api/campaigns", headers=bearer(good))).status_code == 200

    forger = CertificateAuthority.load_or_create(
        tmp_path / "forger", name="JustMaily CA 127.0.0.1:8000/transparency"
    )
    forged_certificate, forged_key = forger.issue_service_credential("agent-7", "editor")
    forged = make_service_token(pem(forged_certificate), forged_key, audience=AUDIENCE)
    # (An expired certificate is refused by the same verifier: tests/shared/test_certificates.py.)
    head, claims, signature = good.split(".")
    tampered = f"{head}.{claims}.{signature[:-4]}AAAA"
    cases = {
        "forged": forged,
        "long-lived": token_of(issued, lifetime=3600),
        "old": token_of(issued, now=datetime.now(UTC) - timedelta(minutes=10)),
        "elsewhere": make_service_token(
            issued["certificate_pem"], issued["private_key_pem"], audience="https://other.example"
        ),
        "tampered": tampered,
        "no certificate": f"{head.replace('eyJ', 'eyJ', 1)}x.{claims}.{signature}",
    }
    for name, token in cases.items():
        response = await client.get("/api/campaigns", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)

    # Least privilege: no machine owners or admins, no credentials from API keys (their scopes
    # would not bind it), and a credential ends with its issuer's membership.
    key = await client.post(
        "/api/api-keys", json={"name": "k", "scopes": ["api-keys:manage"]}, headers=team[Role.ADMIN].headers
    )
    assert key.status_code == 201, key.text
    by_key = await client.post(
        "/api/service-credentials", json={"name": "k", "role": "editor"}, headers=bearer(key.json()["secret"])
    )
    assert by_key.status_code == 403
    owner = await client.post(
        "/api/service-credentials", json={"name": "root", "role": "owner"}, headers=team[Role.ADMIN].headers
    )
    assert (owner.status_code, owner.json()["code"]) == (422, "role_not_allowed")
    async with services_of(app).database.session() as session, session.begin():
        await session.execute(delete(Membership).where(Membership.user_id == team[Role.ADMIN].id))
    gone = await client.get("/api/campaigns", headers=bearer(good))
    assert gone.status_code == 401


async def test_an_approval_by_a_service_says_so_in_the_log(client: httpx.AsyncClient, team: Team) -> None:
    issued = await issue(client, team, role="reviewer")
    editor = team[Role.EDITOR].headers
    campaign = (await client.post("/api/campaigns", json={"name": "Spring"}, headers=editor)).json()
    submit = {"action": "submit"}
    assert (
        await client.post(f"/api/campaigns/{campaign['id']}/transitions", json=submit, headers=editor)
    ).is_success
    approve = {"action": "approve"}
    approved = await client.post(
        f"/api/campaigns/{campaign['id']}/transitions", json=approve, headers=bearer(token_of(issued))
    )
    assert approved.status_code == 200, approved.text
    viewer = team[Role.VIEWER].headers
    entries = [(await client.get(f"/api/transparency/entries/{i}", headers=viewer)).json() for i in range(5)]
    [approval] = [e for e in entries if e.get("kind") == "approval"]
    assert approval["data"]["approvers"] == [str(team[Role.ADMIN].id)]  # who issued it answers for it
    assert approval["data"]["approved_via"] == {"kind": "service", "id": issued["credential"]["id"]}
