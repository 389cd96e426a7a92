"""`justmaily keys rotate`, run as a real process: a workspace's new data key version, and a new
KEK that every data key is re-wrapped under, in batches, resuming after a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from justmaily.server.db.engine import Database
from justmaily.server.identity.models import Workspace
from justmaily.server.protection.audit import Actor
from justmaily.server.protection.hierarchy import KeyHierarchy, WorkspaceKeys
from justmaily.server.protection.models import AuditEntry, DataKey
from justmaily.server.protection.providers import LocalKeyProvider
from justmaily.server.settings import Settings
from tests.server.test_cli import PASSWORD, create_user, refused, run_cli, succeeded

READER = Actor.system("test")


async def _state(settings: Settings) -> tuple[list[int], WorkspaceKeys, list[str]]:
    """The KEK versions of acme's stored keys, its keys as a fresh process unwraps them, and the
    audit log's actions."""
    database = Database(settings)
    try:
        async with database.session() as session, session.begin():
            acme = await session.scalar(select(Workspace.id).where(Workspace.slug == "acme"))
            assert acme is not None
            wrapped_under = sorted(await session.scalars(select(DataKey.kek_version)))
            keys = await KeyHierarchy(LocalKeyProvider(settings.kek_path)).keys_of(
                session, acme, READER, "test"
            )
            actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.at)))
        return wrapped_under, keys, actions
    finally:
        await database.dispose()


def state(database_url: str, data_dir: Path) -> tuple[list[int], WorkspaceKeys, list[str]]:
    return asyncio.run(_state(Settings.of(database_url=database_url, data_dir=str(data_dir))))


def test_rotating_a_workspaces_data_key_then_the_kek(
    database_url: str, cli_env: dict[str, str], data_dir: Path
) -> None:
    env = {**cli_env, "JUSTMAILY_DATABASE_URL": database_url}
    succeeded(create_user(env, "acme", "ada@example.com", PASSWORD, "owner"))

    assert (
        succeeded(run_cli(env, "keys", "rotate", "--workspace", "acme"))
        == "acme: data key v2 seals from now on\n"
    )
    kek_versions, before, _ = state(database_url, data_dir)
    assert kek_versions == [1, 1, 1]  # data v1, data v2, index v1
    assert (before.current, sorted(before.data)) == (2, [1, 2])

    output = succeeded(run_cli(env, "keys", "rotate", "--kek", "--batch", "2", "--reason", "yearly"))
    assert output.splitlines() == [
        "re-wrapped 2/3 data keys under KEK v2",
        "re-wrapped 3/3 data keys under KEK v2",
        "KEK v2 wraps every data key",
    ]
    kek_versions, after, actions = state(database_url, data_dir)
    assert kek_versions == [2, 2, 2]
    assert (after.data, after.index) == (before.data, before.index)  # the data keys themselves stay
    assert actions.count("kek.create") == 1
    assert actions.count("key.rewrap") == 3
    assert (data_dir / "keks" / "kek-2.key").stat().st_mode & 0o777 == 0o600


def test_a_kek_rotation_that_died_midway_resumes(
    database_url: str, cli_env: dict[str, str], data_dir: Path
) -> None:
    env = {**cli_env, "JUSTMAILY_DATABASE_URL": database_url}
    succeeded(create_user(env, "acme", "ada@example.com", PASSWORD, "owner"))
    succeeded(run_cli(env, "keys", "rotate", "--workspace", "acme"))
    _, before, _ = state(database_url, data_dir)
    # The run that died had made KEK v2 and re-wrapped nothing yet.
    LocalKeyProvider(data_dir / "keks").new_version()

    output = succeeded(run_cli(env, "keys", "rotate", "--kek"))
    assert output.splitlines()[-1] == "KEK v2 wraps every data key"  # no third KEK
    assert not (data_dir / "keks" / "kek-3.key").exists()
    kek_versions, after, _ = state(database_url, data_dir)
    assert kek_versions == [2, 2, 2]
    assert after.data == before.data


def test_bad_rotation_requests_are_refused_with_a_message(cli_env: dict[str, str]) -> None:
    assert "name one of --kek or --workspace" in refused(run_cli(cli_env, "keys", "rotate"))
    both = refused(run_cli(cli_env, "keys", "rotate", "--kek", "--workspace", "acme"))
    assert "name one of --kek or --workspace" in both
    assert "--workspace: 2-63" in refused(run_cli(cli_env, "keys", "rotate", "--workspace", "No Such!"))
    succeeded(run_cli(cli_env, "migrate"))
    assert "no workspace 'ghost'" in refused(run_cli(cli_env, "keys", "rotate", "--workspace", "ghost"))
    token = {**cli_env, "JUSTMAILY_KEY_PROVIDER": "pkcs11"}
    assert "'pkcs11_library': required when key_provider is pkcs11" in refused(
        run_cli(token, "keys", "rotate", "--kek")
    )
