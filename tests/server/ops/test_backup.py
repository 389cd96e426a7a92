"""Backups: a consistent encrypted snapshot restores what was there, on SQLite and PostgreSQL;
a truncated, altered or foreign file and a tampered transparency log are refused, and a refused
SQLite restore leaves the database as it was."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select, text

from justmaily.server.audiences import repository
from justmaily.server.audiences.models import Contact
from justmaily.server.db.engine import Database
from justmaily.server.ops import archive
from justmaily.server.ops.archive import ArchiveError
from justmaily.server.ops.backup import BackupError, backup, restore
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team
from tests.plugins.database import _admin, with_database
from tests.server.trust.test_tampering import drop_guards

KEY = bytes(range(32))


async def contact_emails(settings: Settings) -> set[str]:
    database = Database(settings)
    try:
        async with database.session(read_only=True) as session:
            # Sealed in the database: opened through the repository, with the restored data keys.
            found: set[str] = set()
            for workspace_id in set(await session.scalars(select(Contact.workspace_id))):
                async for batch in repository.export_contacts(
                    session, workspace_id, list_id=None, where=None
                ):
                    found.update(contact.email for contact in batch)
            return found
    finally:
        await database.dispose()


async def seeded(client: httpx.AsyncClient, team: Team, app: Litestar) -> None:
    for name in ("ada", "grace"):
        created = await client.post(
            "/api/contacts", json={"email": f"{name}@example.com"}, headers=team[Role.EDITOR].headers
        )
        assert created.status_code == 201, created.text
    await services_of(app).publisher.stop()  # the log's heads are signed: nothing moves under the backup


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_backup_restores_what_was_there(
    app: Litestar,
    client: httpx.AsyncClient,
    team: Team,
    settings: Settings,
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    await seeded(client, team, app)
    out = tmp_path / "backup.jmb"
    manifest = await backup(settings, out, KEY, progress=lambda _: None)
    assert manifest["backend"] == backend
    assert manifest["log_size"] >= 1
    assert b"ada@example.com" not in out.read_bytes()  # sealed
    if backend == "sqlite":
        await _delete_contacts(settings)
        assert await contact_emails(settings) == set()
        report = await restore(settings, out, KEY, replace=True, progress=lambda _: None)
        restored = settings
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        name = f"r_{uuid.uuid4().hex[:12]}"
        await _admin(admin, f"CREATE DATABASE {name}")
        restored = settings.replaced(database_url=with_database(admin, name))
        try:
            report = await restore(restored, out, KEY, progress=lambda _: None)
            assert await contact_emails(restored) == {"ada@example.com", "grace@example.com"}
            with pytest.raises(BackupError, match="not empty"):
                await restore(restored, out, KEY, progress=lambda _: None)
        finally:
            await _admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    assert report["log_entries_checked"] == manifest["log_size"]
    assert await contact_emails(restored) == {"ada@example.com", "grace@example.com"}


async def _delete_contacts(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            await session.execute(text("DELETE FROM list_members"))
            await session.execute(text("DELETE FROM contacts"))
    finally:
        await database.dispose()


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("damage", ["truncated", "flipped", "appended", "foreign key"])
async def test_a_damaged_or_foreign_backup_is_refused_and_changes_nothing(
    app: Litestar, client: httpx.AsyncClient, team: Team, settings: Settings, tmp_path: Path, damage: str
) -> None:
    await seeded(client, team, app)
    out = tmp_path / "backup.jmb"
    await backup(settings, out, KEY, progress=lambda _: None)
    data, key = out.read_bytes(), KEY
    if damage == "truncated":
        data = data[: len(data) - 100]
    elif damage == "flipped":
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]
    elif damage == "appended":
        data += data[-200:]
    else:
        key = os.urandom(32)
    out.write_bytes(data)
    database_file = Path(settings.effective_database_url.removeprefix("sqlite:///"))
    before = digest(database_file)
    with pytest.raises(ArchiveError):
        await restore(settings, out, key, replace=True, progress=lambda _: None)
    assert digest(database_file) == before


@pytest.mark.backends("sqlite")
async def test_a_tampered_transparency_log_is_refused_by_backup_and_restore(
    app: Litestar, client: httpx.AsyncClient, team: Team, settings: Settings, tmp_path: Path
) -> None:
    await seeded(client, team, app)
    database = services_of(app).database
    async with database.session() as session, session.begin():
        await drop_guards(session, ("log_entries",))
        await session.execute(text("UPDATE log_entries SET leaf = X'00' WHERE log_index = 0"))
    with pytest.raises(BackupError, match="transparency log fails its check"):
        await backup(settings, tmp_path / "refused.jmb", KEY, progress=lambda _: None)
    # A file made around the check (as an attacker would) is refused at restore.
    database_file = Path(settings.effective_database_url.removeprefix("sqlite:///"))
    snapshot = tmp_path / "snapshot.db"
    await asyncio.to_thread(_copy_sqlite, database_file, snapshot)
    forged = tmp_path / "forged.jmb"
    archive.write(forged, {"format": 1, "backend": "sqlite", "log_size": 2, "log_root": ""}, snapshot, KEY)
    target = settings.replaced(database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    with pytest.raises(BackupError, match="transparency log fails its check"):
        await restore(target, forged, KEY, progress=lambda _: None)
    assert not (tmp_path / "fresh.db").exists()


def _copy_sqlite(source: Path, destination: Path) -> None:
    import sqlite3

    with sqlite3.connect(source) as live, sqlite3.connect(destination) as copy:
        live.backup(copy)
    copy.close()


@pytest.mark.backends("sqlite")
def test_the_commands_back_up_and_restore_and_say_why_they_refuse(tmp_path: Path) -> None:
    env = {**os.environ, "JUSTMAILY_DATA_DIR": str(tmp_path / "data")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def justmaily(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "justmaily.server.cli", *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert justmaily("migrate").returncode == 0
    made = justmaily("backup", "--out", str(tmp_path / "b.jmb"))
    assert made.returncode == 0, made.stderr
    assert "wrote" in made.stdout
    assert (tmp_path / "data" / "backup.key").stat().st_mode & 0o777 == 0o600
    refused = justmaily("restore", str(tmp_path / "b.jmb"))
    assert refused.returncode != 0
    assert "exists: restore over it with --replace" in refused.stderr
    restored = justmaily("restore", str(tmp_path / "b.jmb"), "--replace")
    assert restored.returncode == 0, restored.stderr
    assert "restored the backup of" in restored.stdout
    (tmp_path / "b.jmb").write_bytes((tmp_path / "b.jmb").read_bytes()[:-50])
    truncated = justmaily("restore", str(tmp_path / "b.jmb"), "--replace")
    assert "restore refused: the backup is truncated" in truncated.stderr
