"""Event import throughput: the generic CSV into an embedded SQLite database, rows per second.

A workspace of CONTACTS contacts and a file of EVENTS events over 50 campaigns (sent, opens,
clicks, a few unsubscribes), imported through `analytics/importing.py` as the endpoint runs it:
parse and check every row, match the contacts, write in one transaction. Then the same file again
(every event already there: the cost of de-duplication). Goal: 50,000 events/s.
Sizes: BENCH_IMPORT_EVENTS (default 200000), BENCH_IMPORT_CONTACTS (default 20000).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import save
from justmaily.server.analytics import importing
from justmaily.server.analytics.imports import generic
from justmaily.server.audiences import repository
from justmaily.server.db.engine import Database
from justmaily.server.identity.models import User, Workspace
from justmaily.server.identity.principal import Principal
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.settings import Settings
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.roles import Role, permissions_of

EVENTS = int(os.environ.get("BENCH_IMPORT_EVENTS", "200000"))
CONTACTS = int(os.environ.get("BENCH_IMPORT_CONTACTS", "20000"))


def generic_csv(events: int, contacts: int, seed: int = 17) -> bytes:
    rng = random.Random(seed)
    lines = ["campaign,subject,sent_at,email,event,occurred_at,machine"]
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    campaigns = 50
    per_campaign = events // campaigns
    for c in range(campaigns):
        sent_at = start + timedelta(days=7 * c)
        at = sent_at.isoformat()
        for i in range(per_campaign):
            kind = "sent" if i % 3 == 0 else rng.choice(("open", "open", "click", "unsubscribe"))
            when = (sent_at + timedelta(seconds=i)).isoformat()
            machine = "true" if kind == "open" and rng.random() < 0.4 else ""
            lines.append(
                f"C{c},Subject {c},{at},p{rng.randrange(contacts)}@example.com,{kind},{when},{machine}"
            )
    return ("\n".join(lines) + "\n").encode()


async def run(workdir: Path, events: int = EVENTS, contacts: int = CONTACTS) -> dict[str, Any]:
    settings = Settings.of(database_url=f"sqlite:///{workdir / 'import.db'}", data_dir=str(workdir))
    database = Database(settings)
    try:
        await upgrade_to_head(database.engine)
        async with database.session() as session, session.begin():
            workspace, user = (
                Workspace(slug="bench", name="Bench"),
                User(email="b@example.com", password_hash="!"),  # noqa: S106 (no password: never signs in),
            )
            session.add_all([workspace, user])
            await session.flush()
            for n in range(contacts):
                await repository.add_contact(
                    session,
                    workspace.id,
                    email=f"p{n}@example.com",
                    name="",
                    attributes={},
                    consent=ConsentStatus.SUBSCRIBED,
                    consent_source="bench",
                )
        principal = Principal(
            kind="user",
            id=user.id,
            user_id=user.id,
            workspace_id=workspace.id,
            workspace_slug="bench",
            permissions=permissions_of(Role.OWNER),
            role=Role.OWNER,
        )
        data = generic_csv(events, contacts)
        started = time.perf_counter()
        parsed = generic.parse(data)
        parse_seconds = time.perf_counter() - started
        results: dict[str, Any] = {
            "events": parsed.rows,
            "contacts": contacts,
            "file_mib": round(len(data) / 2**20, 1),
            "parse_rows_per_s": round(parsed.rows / parse_seconds),
        }
        for label in ("first", "again"):
            started = time.perf_counter()
            async with database.session() as session, session.begin():
                report = await importing.import_events(session, principal, "generic", data, generic.parse)
            seconds = time.perf_counter() - started
            results[label] = {
                "seconds": round(seconds, 2),
                "events_per_s": round(report.rows / seconds),
                "added": report.added,
                "already": report.already,
            }
            print(label, results[label])
        return results
    finally:
        await database.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="justmaily-bench-import-") as tmp:
        results = asyncio.run(run(Path(tmp)))
    print(results)
    save("analytics-import", results)
    return 0
