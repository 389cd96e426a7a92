"""The restore drill: how long recovery takes for an installation of 1,000,000 contacts with
their history (issue 20's goal: under 60 s).

An embedded SQLite database is migrated and filled with BENCH_DRILL_CONTACTS contacts (default
1,000,000) and two message events each (a send and an open), plus a signed transparency log;
then `justmaily backup` and `justmaily restore --replace` run as an operator would run them,
each timed as a whole process (decryption, authentication, SQLite's integrity check and the
log's check included). Rows are counted after the restore.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from bench.report import save
from justmaily.server.audiences.models import Contact
from justmaily.server.db.engine import Database
from justmaily.server.delivery.models import MessageEvent
from justmaily.server.identity.models import Workspace
from justmaily.server.keys.files import ed25519_key
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.settings import Settings
from justmaily.server.trust import log
from justmaily.server.trust.log import LogSigner
from justmaily.shared.audiences import ConsentStatus
from justmaily.shared.delivery import EventKind
from justmaily.shared.trust import EntryKind

CONTACTS = int(os.environ.get("BENCH_DRILL_CONTACTS", "1000000"))
_BATCH = 20_000


async def _migrate_and_sign(settings: Settings) -> None:
    database = Database(settings)
    try:
        await upgrade_to_head(database.engine)
        async with database.session() as session, session.begin():
            await log.append_many(session, [log.Record(EntryKind.SEND, {"send": n}) for n in range(1000)])
        signer = LogSigner(settings.effective_log_origin, ed25519_key(settings.log_key_path))
        async with database.session() as session, session.begin():
            await log.publish(session, signer)
    finally:
        await database.dispose()


def _fill(path: Path, contacts: int) -> None:
    engine = create_engine(f"sqlite:///{path}")
    workspace = uuid.uuid4()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(insert(Workspace), [{"id": workspace, "slug": "drill", "name": "Drill"}])
        for start in range(0, contacts, _BATCH):
            ids = [uuid.uuid4() for _ in range(min(_BATCH, contacts - start))]
            connection.execute(
                insert(Contact),
                [
                    {
                        "id": cid,
                        "workspace_id": workspace,
                        # The drill counts rows: bytes the size of a sealed address and of its
                        # blind index stand in for them (nothing opens them).
                        "email_sealed": os.urandom(35 + len(f"person{start + i}@example.com")),
                        "email_key": os.urandom(32).hex(),
                        "name": f"Person {start + i}",
                        "attributes": {"plan": "pro" if i % 3 else "free"},
                        "consent": ConsentStatus.SUBSCRIBED,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, cid in enumerate(ids)
                ],
            )
            connection.execute(
                insert(MessageEvent),
                [
                    {
                        "workspace_id": workspace,
                        "contact_id": cid,
                        "kind": kind,
                        "detail": "",
                        "occurred_at": when,
                    }
                    for cid in ids
                    for kind, when in ((EventKind.SENT, now - timedelta(days=3)), (EventKind.OPENED, now))
                ],
            )
            print(f"  filled {start + len(ids):,} contacts", flush=True)
    engine.dispose()


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, text=True)  # noqa: S603 (our own CLI)
    return time.perf_counter() - started


def run(contacts: int = CONTACTS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="justmaily-drill-") as work:
        data = Path(work) / "data"
        database = data / "justmaily.db"
        settings = Settings.of(data_dir=str(data))
        asyncio.run(_migrate_and_sign(settings))
        print(f"restore drill: {contacts:,} contacts with 2 events each", flush=True)
        _fill(database, contacts)
        env = {**os.environ, "JUSTMAILY_DATA_DIR": str(data)}
        cli = [sys.executable, "-m", "justmaily.server.cli"]
        archive = Path(work) / "drill.jmb"
        backup_seconds = _timed([*cli, "backup", "--out", str(archive)], env)
        restore_seconds = _timed([*cli, "restore", str(archive), "--replace"], env)
        engine = create_engine(f"sqlite:///{database}")
        with engine.connect() as connection:
            counted = {
                table: connection.execute(text(query)).scalar_one()
                for table, query in (
                    ("contacts", "SELECT count(*) FROM contacts"),
                    ("message_events", "SELECT count(*) FROM message_events"),
                    ("log_entries", "SELECT count(*) FROM log_entries"),
                )
            }
        engine.dispose()
        return {
            "contacts": contacts,
            "database_bytes": database.stat().st_size,
            "backup_bytes": archive.stat().st_size,
            "backup_seconds": round(backup_seconds, 2),
            "restore_seconds": round(restore_seconds, 2),
            "rows_after_restore": counted,
        }


def main() -> int:
    result = run()
    print(
        f"backup {result['backup_seconds']} s, restore {result['restore_seconds']} s "
        f"({result['database_bytes'] / 1e6:.0f} MB database, {result['backup_bytes'] / 1e6:.0f} MB backup); "
        f"rows after restore: {result['rows_after_restore']}"
    )
    print(f"results: {save('restore-drill', result)}")
    ok = result["rows_after_restore"]["contacts"] == result["contacts"]
    return 0 if ok else 1
