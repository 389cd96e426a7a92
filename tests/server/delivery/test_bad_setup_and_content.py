"""Sending setup and content that cannot work are 422s that say why, never 500s."""

from __future__ import annotations

import httpx
import pytest

from justmaily.shared.roles import Role
from tests.plugins.api import Team


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("a..b", "empty label"),
        ("x" * 64 + ".example", "1-63"),
        ("-acme.example", "inner hyphens"),
        ("acme-.example", "inner hyphens"),
        ("localhost", "two labels"),
    ],
)
async def test_a_sending_domain_must_be_a_dns_name(
    client: httpx.AsyncClient, team: Team, domain: str, why: str
) -> None:
    owner = team[Role.OWNER].headers
    refused = await client.post("/api/delivery/domains", json={"domain": domain}, headers=owner)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_domain"), refused.text
    assert why in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "domain"
    assert (await client.get("/api/delivery/domains", headers=owner)).json() == []
    fine = await client.post("/api/delivery/domains", json={"domain": "Mail.Acme.example."}, headers=owner)
    assert fine.status_code == 201, fine.text
    assert fine.json()["domain"] == "mail.acme.example"


async def test_a_preview_naming_a_link_the_content_lacks_says_so(
    client: httpx.AsyncClient, team: Team
) -> None:
    editor = team[Role.EDITOR].headers
    campaign = (await client.post("/api/campaigns", json={"name": "Links"}, headers=editor)).json()
    body = "[Shop](https://shop.example/) and {{ _click(7) }}"
    patched = await client.patch(
        f"/api/campaigns/{campaign['id']}/content", json={"body": body}, headers=editor
    )
    assert patched.status_code == 200, patched.text
    contact = (await client.post("/api/contacts", json={"email": "ada@example.com"}, headers=editor)).json()
    preview = await client.post(
        f"/api/campaigns/{campaign['id']}/preview", json={"contact_id": contact["id"]}, headers=editor
    )
    assert (preview.status_code, preview.json()["code"]) == (422, "invalid_content"), preview.text
    assert "_click(7)" in preview.json()["detail"]
    assert "1 link" in preview.json()["detail"]
    fixed = await client.patch(
        f"/api/campaigns/{campaign['id']}/content",
        json={"body": "[Shop](https://shop.example/)"},
        headers=editor,
    )
    assert fixed.status_code == 200
    preview = await client.post(
        f"/api/campaigns/{campaign['id']}/preview", json={"contact_id": contact["id"]}, headers=editor
    )
    assert preview.status_code == 200
    assert 'href="https://shop.example/"' in preview.json()["html"]
