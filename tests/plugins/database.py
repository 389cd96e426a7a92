"""Every database test runs on both backends, each test on a fresh copy of a migrated template."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from justmaily.server.db.engine import Database
from justmaily.server.migrations.migrate import upgrade_to_head
from justmaily.server.settings import Settings

BACKENDS = {
    "sqlite": pytest.param("sqlite", id="sqlite"),
    "postgresql": pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _migrate(url: str, data_dir: Path) -> None:
    database = Database(Settings.of(database_url=url, data_dir=str(data_dir)))
    try:
        await upgrade_to_head(database.engine)
    finally:
        await database.dispose()


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sqlite-template")
    path = directory / "template.db"
    asyncio.run(_migrate(sqlite_url(path), directory))
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated template of this session's own: pytest-xdist workers, and other runs, may share
    the PostgreSQL server (CI starts one)."""
    name = f"justmaily_template_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_admin_url, f"CREATE DATABASE {name}"))
    try:
        asyncio.run(_migrate(with_database(postgres_admin_url, name), tmp_path_factory.mktemp("pg")))
        yield name
    finally:
        asyncio.run(_admin(postgres_admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every database test on both backends, or on those named by `@pytest.mark.backends(...)`."""
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else tuple(BACKENDS)
        metafunc.parametrize("backend", [BACKENDS[name] for name in names], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the test's own on the backend under test."""
    if backend == "sqlite":
        path = tmp_path / "justmaily.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield sqlite_url(path)
        return
    admin = request.getfixturevalue("postgres_admin_url")
    template = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(admin, f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield with_database(admin, name)
    finally:
        asyncio.run(_admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.of(database_url=database_url, data_dir=str(tmp_path / "data"))
