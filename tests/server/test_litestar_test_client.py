"""The same API through Litestar's own test client: sign-in, a campaign's life, an error."""

from __future__ import annotations

import asyncio

from litestar.testing import TestClient

from justmaily.server.app import create_app
from justmaily.server.db.engine import Database
from justmaily.server.identity.accounts import AccountService
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role

PASSWORD = "a passphrase long enough"


async def _add_members(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            accounts = AccountService(session)
            workspace = await accounts.ensure_workspace("acme", "Acme")
            for role in (Role.EDITOR, Role.REVIEWER):
                user, _ = await accounts.ensure_user(f"{role.value}@acme.example.com", PASSWORD)
                await accounts.set_membership(workspace, user, role)
    finally:
        await database.dispose()


def test_a_campaign_from_draft_to_approved(settings: Settings) -> None:
    asyncio.run(_add_members(settings))
    with TestClient(app=create_app(settings)) as client:

        def sign_in(role: Role) -> dict[str, str]:
            response = client.post(
                "/api/auth/login", json={"email": f"{role.value}@acme.example.com", "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

        editor, reviewer = sign_in(Role.EDITOR), sign_in(Role.REVIEWER)
        created = client.post("/api/campaigns", json={"name": "Launch", "subject": "Hello"}, headers=editor)
        assert created.status_code == 201
        url = f"/api/campaigns/{created.json()['id']}"
        assert client.post(f"{url}/transitions", json={"action": "submit"}, headers=editor).status_code == 200
        refused = client.post(f"{url}/transitions", json={"action": "approve"}, headers=editor)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        approved = client.post(f"{url}/transitions", json={"action": "approve"}, headers=reviewer)
        assert approved.json()["status"] == "approved"
        assert client.get(url, headers=reviewer).json()["approved_at"] is not None
