"""The campaign listing over many campaigns: every page, filter and search answers exactly what
the rows say, newest first, each campaign once (campaigns/service.py reads them as plain columns,
no ORM entities). Rows are written straight into the database, with clashing creation times so
that the cursor's tie-break on the id is exercised."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import insert

from justmaily.server.campaigns.models import Campaign
from justmaily.server.services import services_of
from justmaily.shared import campaigns as wire
from justmaily.shared.campaigns import CampaignStatus
from justmaily.shared.roles import Role
from tests.plugins.api import Team

COUNT = 1200


async def seed(app: Litestar, team: Team) -> list[dict[str, Any]]:
    rng = random.Random(15)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(COUNT):
        created = base + timedelta(seconds=rng.randrange(COUNT // 3))  # many share a second
        approved = rng.random() < 0.2
        rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)),
                "workspace_id": team.workspace_id,
                "name": f"{rng.choice(['Spring', 'Autumn', '50%_off'])} campaign {i}",
                "subject": rng.choice(["Hello", "News", "100% cotton"]),
                "preheader": "Read on" if i % 2 else "",
                "sender": "Acme <news@acme.example.com>",
                "status": rng.choice(list(CampaignStatus)),
                "owner_id": team[Role.EDITOR].id,
                "revision": rng.randrange(1, 9),
                "review_hash": "a" * 64 if approved else None,
                "approved_hash": "a" * 64 if approved else None,
                "approved_by": team[Role.REVIEWER].id if approved else None,
                "approved_at": created + timedelta(hours=1) if approved else None,
                "sent_back_reason": "Needs work" if i % 17 == 0 else None,
                "sent_back_by": team[Role.REVIEWER].id if i % 17 == 0 else None,
                "sent_back_at": created if i % 17 == 0 else None,
                "scheduled_at": created + timedelta(days=1) if i % 23 == 0 else None,
                "archived_at": created + timedelta(days=2) if rng.random() < 0.15 else None,
                "created_at": created,
                "updated_at": created + timedelta(minutes=rng.randrange(100)),
            }
        )
    # A rival workspace's campaign, newest of all: never listed.
    rows.append(
        {
            **rows[0],
            "id": uuid.uuid4(),
            "workspace_id": team.rival_workspace_id,
            "created_at": base + timedelta(days=9),
        }
    )
    async with services_of(app).database.session() as session, session.begin():
        await session.execute(insert(Campaign), rows)
    return rows[:-1]


def expected(rows: list[dict[str, Any]], **filters: Any) -> list[dict[str, Any]]:
    def matches(row: dict[str, Any]) -> bool:
        if (row["archived_at"] is not None) != filters.get("archived", False):
            return False
        if "status" in filters and row["status"] != filters["status"]:
            return False
        q = filters.get("q", "").lower()
        return not q or q in row["name"].lower() or q in row["subject"].lower()

    chosen = sorted(filter(matches, rows), key=lambda r: (r["created_at"], r["id"]), reverse=True)
    fields = wire.Campaign.__struct_fields__
    return [msgspec.to_builtins(wire.Campaign(**{f: row[f] for f in fields})) for row in chosen]


async def every_page(
    client: httpx.AsyncClient, team: Team, limit: int, **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/campaigns", params=query, headers=team[Role.VIEWER].headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit


async def test_every_page_of_many_campaigns_with_filters_is_what_the_rows_say(
    app: Litestar, client: httpx.AsyncClient, team: Team
) -> None:
    rows = await seed(app, team)
    cases: list[dict[str, Any]] = [
        {},
        {"archived": True},
        {"status": CampaignStatus.APPROVED},
        {"status": CampaignStatus.DRAFT, "archived": True},
        {"q": "spring"},
        {"q": "50%_"},  # % and _ are literals
        {"q": "cotton", "status": CampaignStatus.IN_REVIEW},
    ]
    for filters in cases:
        params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in filters.items()}
        want = expected(rows, **filters)
        assert want, filters
        for limit in (200, 37):
            assert await every_page(client, team, limit, **params) == want, (filters, limit)
