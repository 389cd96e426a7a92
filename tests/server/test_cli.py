"""The `justmaily` command line, run as real processes against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select

from justmaily.server.db.engine import Database
from justmaily.server.identity.models import Membership, User, Workspace
from justmaily.server.migrations.migrate import alembic_config
from justmaily.server.settings import Settings
from justmaily.shared.roles import Role

_TIMEOUT_SECONDS = 90
PASSWORD = "correct horse battery"  # 12+ characters, as a new account needs
OTHER_PASSWORD = "another long passphrase"


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@dataclass(frozen=True)
class Account:
    email: str
    display_name: str
    password_hash: str
    memberships: dict[str, Role]

    def has_password(self, password: str) -> bool:
        try:
            return PasswordHasher().verify(self.password_hash, password)
        except VerificationError:
            return False


async def _read_accounts(settings: Settings) -> dict[str, Account]:
    database = Database(settings)
    try:
        async with database.session() as session:
            users = (await session.scalars(select(User))).all()
            rows = (
                await session.execute(
                    select(Membership.user_id, Workspace.slug, Membership.role).join(
                        Workspace, Workspace.id == Membership.workspace_id
                    )
                )
            ).all()
    finally:
        await database.dispose()
    return {
        user.email: Account(
            email=user.email,
            display_name=user.display_name,
            password_hash=user.password_hash,
            memberships={slug: role for user_id, slug, role in rows if user_id == user.id},
        )
        for user in users
    }


def read_accounts(database_url: str, tmp_path: Path) -> dict[str, Account]:
    """Every account and its memberships, read through the app's models."""
    settings = Settings.of(database_url=database_url, data_dir=str(tmp_path / "reader"))
    return asyncio.run(_read_accounts(settings))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli_env(data_dir: Path) -> dict[str, str]:
    """The test's own environment: a data dir of its own and no inherited JUSTMAILY_* variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUSTMAILY_")}
    env["JUSTMAILY_DATA_DIR"] = str(data_dir)
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "justmaily.server.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        check=False,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The error output of a run that failed cleanly: non-zero exit, a message, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "Error: " in result.stderr
    return result.stderr


def create_user(
    env: dict[str, str], workspace: str, email: str, password: str, role: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        env,
        "create-user",
        "--workspace",
        workspace,
        "--email",
        email,
        "--password",
        password,
        "--role",
        role,
        *extra,
    )


# Help


def test_help_lists_the_commands(cli_env: dict[str, str]) -> None:
    output = succeeded(run_cli(cli_env, "--help"))

    commands = output.split("Commands:", 1)[1]
    listed = {line.split()[0] for line in commands.strip().splitlines()}
    # `desktop` and `verify` come through the entry-point group, from the desktop package (its help
    # needs no Qt) and the offline verifier.
    assert listed == {
        "serve",
        "migrate",
        "create-user",
        "keys",
        "ops",
        "backup",
        "restore",
        "desktop",
        "verify",
    }


def test_serve_help_shows_the_host_and_port_defaults(cli_env: dict[str, str]) -> None:
    output = " ".join(succeeded(run_cli(cli_env, "serve", "--help")).split())

    assert re.search(r"--host\b[^\[]*\[default: 127\.0\.0\.1\]", output), output
    assert re.search(r"--port\b[^\[]*\[default: 8000\b", output), output


# migrate


def test_migrate_creates_the_sqlite_database_and_is_idempotent(
    cli_env: dict[str, str], data_dir: Path
) -> None:
    database = data_dir / "justmaily.db"
    assert not database.exists()
    expected = f"sqlite:///{database} is at revision {head_revision()}"

    first = succeeded(run_cli(cli_env, "migrate"))
    # Again, with a variable that is no setting: a warning, not a failure.
    second_run = run_cli({**cli_env, "JUSTMAILY_NO_SUCH_SETTING": "1"}, "migrate")
    second = succeeded(second_run)

    assert first.strip() == expected
    assert second.strip() == expected
    assert "warning: JUSTMAILY_NO_SUCH_SETTING is not a JustMaily setting" in second_run.stderr
    with closing(sqlite3.connect(database)) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert revision == head_revision()
    assert {"users", "workspaces", "memberships"} <= tables


def test_migrate_on_an_already_migrated_database(database_url: str, cli_env: dict[str, str]) -> None:
    output = succeeded(run_cli({**cli_env, "JUSTMAILY_DATABASE_URL": database_url}, "migrate"))

    assert output.strip().endswith(f" is at revision {head_revision()}")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        pytest.param({"JUSTMAILY_DB_POOL_SIZE": "nope"}, "JUSTMAILY_DB_POOL_SIZE", id="pool-size"),
        pytest.param({"JUSTMAILY_RATE_LIMIT_PER_IP": "lots"}, "JUSTMAILY_RATE_LIMIT_PER_IP", id="rate"),
        pytest.param(
            {"JUSTMAILY_DATABASE_URL": "mysql://ada:s3cret-pw@db/justmaily"},
            "JUSTMAILY_DATABASE_URL",
            id="database-url",
        ),
        pytest.param({"JUSTMAILY_CONFIG": "/nonexistent/justmaily.toml"}, "JUSTMAILY_CONFIG", id="config"),
    ],
)
def test_a_configuration_error_stops_migrate_with_a_message(
    cli_env: dict[str, str], data_dir: Path, environ: dict[str, str], named: str
) -> None:
    message = refused(run_cli({**cli_env, **environ}, "migrate"))

    assert f"configuration error: {named}: " in message
    assert "s3cret-pw" not in message
    assert not data_dir.exists()  # nothing was touched


def test_a_bad_value_in_the_config_file_names_its_key(
    cli_env: dict[str, str], tmp_path: Path, data_dir: Path
) -> None:
    config = tmp_path / "justmaily.toml"
    config.write_text('db_pool_size = "nope"\n', encoding="utf-8")

    message = refused(run_cli(cli_env, "migrate", "--config", str(config)))

    assert f"configuration error: setting 'db_pool_size' in {config}: " in message
    assert not data_dir.exists()


def test_an_unreachable_database_is_a_message_without_the_password(cli_env: dict[str, str]) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    env = {**cli_env, "JUSTMAILY_DATABASE_URL": "postgresql://ada:s3cret-pw@127.0.0.1:1/justmaily"}

    message = refused(run_cli(env, "migrate"))

    assert "cannot reach the database postgresql://ada:***@127.0.0.1:1/justmaily" in message
    assert "s3cret-pw" not in message


# create-user


def test_create_user_creates_the_sqlite_database_when_new(
    cli_env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    output = succeeded(create_user(cli_env, "acme", "Ada@Example.com", PASSWORD, "editor", "--name", "Ada"))

    assert output.strip() == "created ada@example.com as editor of acme"
    accounts = read_accounts(f"sqlite:///{data_dir / 'justmaily.db'}", tmp_path)
    assert list(accounts) == ["ada@example.com"]
    ada = accounts["ada@example.com"]
    assert ada.memberships == {"acme": Role.EDITOR}
    assert ada.display_name == "Ada"
    assert ada.has_password(PASSWORD)


def test_create_user_adds_memberships_and_updates_the_password(
    database_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "JUSTMAILY_DATABASE_URL": database_url}

    created = succeeded(create_user(env, "acme", "Ada@Example.com", PASSWORD, "editor"))
    accounts = read_accounts(database_url, tmp_path)
    assert created.strip() == "created ada@example.com as editor of acme"
    assert set(accounts) == {"ada@example.com"}
    assert accounts["ada@example.com"].memberships == {"acme": Role.EDITOR}
    assert accounts["ada@example.com"].display_name == "ada"  # from the e-mail when not given
    assert accounts["ada@example.com"].has_password(PASSWORD)

    # Another workspace: a second membership for the same account (and its password is reset).
    second = succeeded(create_user(env, "beta-team", "ada@example.com", OTHER_PASSWORD, "viewer"))
    accounts = read_accounts(database_url, tmp_path)
    assert second.strip() == "updated ada@example.com as viewer of beta-team"
    assert set(accounts) == {"ada@example.com"}
    ada = accounts["ada@example.com"]
    assert ada.memberships == {"acme": Role.EDITOR, "beta-team": Role.VIEWER}
    assert ada.has_password(OTHER_PASSWORD)
    assert not ada.has_password(PASSWORD)

    # The same workspace again, e-mail in other case: the role and the password change.
    third = succeeded(create_user(env, "acme", "ADA@example.COM", PASSWORD, "admin"))
    accounts = read_accounts(database_url, tmp_path)
    assert third.strip() == "updated ada@example.com as admin of acme"
    ada = accounts["ada@example.com"]
    assert ada.memberships == {"acme": Role.ADMIN, "beta-team": Role.VIEWER}
    assert ada.has_password(PASSWORD)
    assert not ada.has_password(OTHER_PASSWORD)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"--role": "boss"}, "'--role'", id="role"),
        pytest.param({"--workspace": "Acme!"}, "--workspace: ", id="workspace-slug"),
        pytest.param({"--workspace": "a"}, "--workspace: ", id="workspace-too-short"),
        pytest.param({"--password": "short-pw"}, "--password: at least 12 characters", id="password"),
        pytest.param({"--email": "not-an-email"}, "--email: ", id="email"),
        pytest.param({"--email": "ada@"}, "--email: ", id="email-without-domain"),
        pytest.param({"--name": "x" * 201}, "--name: at most 200 characters", id="name-too-long"),
    ],
)
def test_create_user_refuses_bad_input_before_touching_the_database(
    cli_env: dict[str, str], data_dir: Path, overrides: dict[str, str], expected: str
) -> None:
    options = {
        "--workspace": "acme",
        "--email": "ada@example.com",
        "--password": PASSWORD,
        "--role": "editor",
    } | overrides
    args = [part for option in options.items() for part in option]

    message = refused(run_cli(cli_env, "create-user", *args))

    assert expected in message
    assert not data_dir.exists()


def test_create_user_refuses_a_database_that_is_not_migrated(cli_env: dict[str, str], data_dir: Path) -> None:
    env = {**cli_env, "JUSTMAILY_AUTO_MIGRATE": "false"}

    message = refused(create_user(env, "acme", "ada@example.com", PASSWORD, "editor"))

    assert "run `justmaily migrate` first" in message
    with closing(sqlite3.connect(data_dir / "justmaily.db")) as connection:
        tables = list(connection.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    assert tables == []  # nothing was created behind the operator's back


def test_create_user_with_a_configuration_error(cli_env: dict[str, str], data_dir: Path) -> None:
    env = {**cli_env, "JUSTMAILY_DB_POOL_SIZE": "nope"}

    message = refused(create_user(env, "acme", "ada@example.com", PASSWORD, "editor"))

    assert "JUSTMAILY_DB_POOL_SIZE" in message
    assert not data_dir.exists()
