"""The data layer: per-backend tuning, one transaction per request, concurrent writers."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator

import httpx
import pytest
import structlog
from litestar import Litestar
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import QueuePool

from justmaily.server.db.engine import Database, async_url
from justmaily.server.db.session import transaction
from justmaily.server.identity.models import User, Workspace
from justmaily.server.logging import configure_logging
from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role
from tests.plugins.api import Team


@pytest.mark.backends("sqlite")
async def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with database.engine.connect() as connection:
            pragma = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await database.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": settings.database.sqlite_busy_timeout_ms,
    }


@pytest.mark.backends("postgresql")
async def test_postgresql_pool_is_tuned_and_health_checked(settings: Settings) -> None:
    database = Database(settings)
    try:
        pool = database.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == settings.database.pool_size
        assert pool._pre_ping
        assert pool._recycle == settings.database.pool_recycle_seconds
        assert database.engine.dialect.driver == "asyncpg"
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await database.dispose()


def test_plain_urls_get_async_drivers() -> None:
    assert async_url("sqlite:///x.db").startswith("sqlite+aiosqlite:///")
    assert async_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert async_url("postgres://u@h/db").startswith("postgresql+asyncpg://")
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        async_url("mysql://u@h/db")


async def _workspaces(database: Database) -> list[str]:
    async with database.session(read_only=True) as session:
        return list(await session.scalars(select(Workspace.slug).order_by(Workspace.slug)))


async def test_a_transaction_commits_on_success_and_rolls_back_on_error(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with transaction(database) as session:
            session.add(Workspace(slug="kept", name="Kept"))

        async def failing_handler() -> None:
            async with transaction(database) as session:
                session.add(Workspace(slug="dropped", name="Dropped"))
                await session.flush()
                raise RuntimeError("handler failed")

        with pytest.raises(RuntimeError, match="handler failed"):
            await failing_handler()
        assert await _workspaces(database) == ["kept"]
    finally:
        await database.dispose()


async def test_reads_do_not_wait_for_a_writer(settings: Settings) -> None:
    database = Database(settings)
    try:
        async with transaction(database) as writer:
            writer.add(Workspace(slug="pending", name="Pending"))
            await writer.flush()
            # While the write is open, a reader sees the last committed state at once.
            async with asyncio.timeout(2):
                assert await _workspaces(database) == []
        assert await _workspaces(database) == ["pending"]
    finally:
        await database.dispose()


# Another process's writer: it takes the write turn (the lock file) and then SQLite's write
# lock, holds them, commits, and lets go. Prints "holding" once both are held.
_OTHER_WRITER = """
import fcntl, os, sqlite3, sys, time
database, hold = sys.argv[1], float(sys.argv[2])
fd = os.open(database + "-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
connection = sqlite3.connect(database, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute(
    "INSERT INTO workspaces (id, slug, name, created_at) VALUES (?, 'other', 'Other', '2026-01-01')",
    (os.urandom(16).hex(),),
)
print("holding", flush=True)
time.sleep(hold)
connection.execute("COMMIT")
fcntl.flock(fd, fcntl.LOCK_UN)
"""


@pytest.mark.backends("sqlite")
async def test_writers_of_several_processes_take_turns_past_the_busy_timeout(settings: Settings) -> None:
    """Writers of another process (a second server worker, the CLI) hold the write turn longer
    than SQLite's busy timeout: ours waits its turn instead of failing "database is locked"."""
    database_file = make_url(settings.effective_database_url).database
    assert database_file is not None
    database = Database(settings.replaced(sqlite_busy_timeout_ms=200))
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OTHER_WRITER, database_file, "1.0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert other.stdout is not None
        async with asyncio.timeout(10):
            assert await other.stdout.readline() == b"holding\n"
            async with transaction(database) as session:  # waits about 1 s, five busy timeouts
                session.add(Workspace(slug="ours", name="Ours"))
            assert await other.wait() == 0
        assert await _workspaces(database) == ["other", "ours"]
    finally:
        if other.returncode is None:
            other.kill()
            await other.wait()
        await database.dispose()


async def test_concurrent_writers_all_succeed(app: Litestar, client: httpx.AsyncClient, team: Team) -> None:
    editor = team[Role.EDITOR].headers

    async def create(i: int) -> int:
        return (await client.post("/api/campaigns", json={"name": f"c{i}"}, headers=editor)).status_code

    statuses = await asyncio.gather(*(create(i) for i in range(25)))
    assert statuses == [201] * 25
    async with services_of(app).database.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM campaigns")) == 25
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 2


async def test_migrations_match_the_models(settings: Settings) -> None:
    """A model change without its migration fails here (run `python3 bootstrap.py revision "…"`)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from justmaily.server.migrations.schema import metadata

    database = Database(settings)
    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await database.dispose()
    assert differences == []


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)


@pytest.mark.usefixtures("restore_logging")
async def test_statement_parameters_never_reach_errors_or_logs(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed statement's message (which the error log prints) and the database libraries' own
    logs, even at DEBUG, never carry the values: here a password hash."""
    secret = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LXNhbHQ$not-for-the-log"
    configure_logging("DEBUG", "json")  # the server's: its handler writes to this test's stderr
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            session.add(User(email="once@example.com", password_hash=secret))
        async with database.session(read_only=True) as session:
            stored = await session.scalar(select(User.password_hash))  # rows are logged at DEBUG
        async with database.session() as session, session.begin():
            session.add(User(email="once@example.com", password_hash=secret))
            with pytest.raises(IntegrityError) as failure:
                await session.flush()
    finally:
        await database.dispose()
    assert stored == secret
    assert secret not in str(failure.value)
    logged = capsys.readouterr().err
    assert "INSERT INTO users" in logged  # the statement log ran at this level
    assert secret not in logged


@pytest.mark.backends("sqlite")
async def test_statements_are_logged_only_when_debugging(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            session.add(User(email="quiet@example.com", password_hash="x"))
    finally:
        await database.dispose()
    assert "INSERT INTO users" not in capsys.readouterr().err
