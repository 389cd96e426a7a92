"""Each workspace's data keys are made on first use, stored only wrapped, versioned, unwrapped
once per process (and audited), and survive a new KEK or a new data key version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.protection.audit import Actor
from justmaily.server.protection.hierarchy import KeyHierarchy, UnknownKeyVersionError, WorkspaceKeys
from justmaily.server.protection.models import AuditEntry, DataKey, KeyPurpose
from justmaily.server.protection.providers import LocalKeyProvider, Pkcs11KeyProvider
from justmaily.server.settings import Settings
from tests.server.protection.conftest import SoftHsm
from tests.server.protection.helpers import database_with_workspaces

ADMIN = Actor("person", "3f1c-admin")


async def audit_actions(session: object) -> list[tuple[str, str]]:

    assert isinstance(session, AsyncSession)
    rows = await session.execute(select(AuditEntry.action, AuditEntry.subject).order_by(AuditEntry.at))
    return [(action, subject) for action, subject in rows.all()]


async def test_keys_are_made_once_stored_wrapped_and_unwrapped_once(settings: Settings) -> None:
    hierarchy = KeyHierarchy(LocalKeyProvider(settings.kek_path))
    async with database_with_workspaces(settings) as (database, (acme, rival)):
        async with database.session() as session, session.begin():
            keys = await hierarchy.keys_of(session, acme, ADMIN, "export")
            again = await hierarchy.keys_of(session, acme, ADMIN, "export")
            other = await hierarchy.keys_of(session, rival, ADMIN, "export")
        assert (keys.current, keys.index_version) == (1, 1)
        assert (again.data, again.index) == (keys.data, keys.index)
        assert other.data[1] != keys.data[1]
        assert other.index != keys.index
        assert repr(keys) == f"WorkspaceKeys(workspace_id={acme!r}, current=1, index_version=1)"
        async with database.session() as session:
            rows = list(await session.scalars(select(DataKey).where(DataKey.workspace_id == acme)))
            assert {(row.purpose, row.version, row.kek_version) for row in rows} == {
                (KeyPurpose.DATA, 1, 1),
                (KeyPurpose.INDEX, 1, 1),
            }
            for row in rows:
                assert keys.data[1] not in row.wrapped
                assert keys.index not in row.wrapped
            # Made and unwrapped once each, then served from memory: four entries for acme.
            acme_entries = await session.execute(
                select(
                    AuditEntry.action, AuditEntry.actor_kind, AuditEntry.actor_id, AuditEntry.reason
                ).where(AuditEntry.workspace_id == acme)
            )
            assert sorted(acme_entries.all()) == [
                ("key.create", "person", "3f1c-admin", "first use"),
                ("key.create", "person", "3f1c-admin", "first use"),
                ("key.unwrap", "person", "3f1c-admin", "export"),
                ("key.unwrap", "person", "3f1c-admin", "export"),
            ]
        # Another process (a replica) finds the same keys, and its unwrapping is audited too.
        replica = KeyHierarchy(LocalKeyProvider(settings.kek_path))
        async with database.session() as session, session.begin():
            assert (await replica.keys_of(session, acme, Actor.system("sender"), "send")).data == keys.data
            unwraps = await session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.actor_id == "sender")
            )
            assert unwraps == 2


async def test_a_new_data_key_seals_from_now_on_and_old_versions_still_open(settings: Settings) -> None:
    hierarchy = KeyHierarchy(LocalKeyProvider(settings.kek_path))
    async with database_with_workspaces(settings) as (database, (acme, _)):
        async with database.session() as session, session.begin():
            first = await hierarchy.keys_of(session, acme, ADMIN, "read")
            assert await hierarchy.new_version(session, acme, KeyPurpose.DATA, ADMIN, "rotation") == 2
            second = await hierarchy.keys_of(session, acme, ADMIN, "read")
        assert second.current == 2
        assert second.data_key(1) == first.data_key(1) != second.data_key(2)
        assert second.index == first.index  # the index key rotates on its own
        with pytest.raises(UnknownKeyVersionError, match="no data key version 3"):
            second.data_key(3)


@pytest.mark.parametrize("provider_kind", ["local", "pkcs11"])
async def test_a_new_kek_rewraps_every_data_key_and_the_keys_stay_the_same(
    settings: Settings, provider_kind: str, request: pytest.FixtureRequest
) -> None:
    if provider_kind == "local":
        provider: LocalKeyProvider | Pkcs11KeyProvider = LocalKeyProvider(settings.kek_path)
    else:
        hsm: SoftHsm = request.getfixturevalue("softhsm")
        provider = Pkcs11KeyProvider(hsm.library, hsm.token_label, hsm.pin, hsm.key_label())
    hierarchy = KeyHierarchy(provider)
    async with database_with_workspaces(settings) as (database, (acme, rival)):
        async with database.session() as session, session.begin():
            before = {ws: await hierarchy.keys_of(session, ws, ADMIN, "read") for ws in (acme, rival)}
            assert provider.new_version() == 2
            assert await hierarchy.stale_count(session) == 4
        # In batches, each its own transaction: the second picks up where the first stopped.
        for expected in (3, 1, 0):
            async with database.session() as session, session.begin():
                assert await hierarchy.rewrap(session, ADMIN, "yearly KEK rotation", limit=3) == expected
        fresh = KeyHierarchy(provider)  # nothing cached: everything unwraps under KEK 2
        async with database.session() as session, session.begin():
            assert set(await session.scalars(select(DataKey.kek_version))) == {2}
            for ws, keys in before.items():
                after = await fresh.keys_of(session, ws, ADMIN, "read")
                assert (after.data, after.index) == (keys.data, keys.index)
            rewraps = [subject for action, subject in await audit_actions(session) if action == "key.rewrap"]
            assert sorted(rewraps) == ["data key v1 to KEK v2"] * 2 + ["index key v1 to KEK v2"] * 2
    if isinstance(provider, Pkcs11KeyProvider):
        provider.close()


async def test_the_audit_log_is_append_only(settings: Settings) -> None:
    hierarchy = KeyHierarchy(LocalKeyProvider(settings.kek_path))
    async with database_with_workspaces(settings) as (database, (acme, _)):
        async with database.session() as session, session.begin():
            await hierarchy.keys_of(session, acme, ADMIN, "read")
        for statement in ("UPDATE audit_entries SET reason = 'nothing'", "DELETE FROM audit_entries"):
            with pytest.raises(Exception, match="append-only"):
                async with database.session() as session, session.begin():
                    await session.execute(text(statement))


async def test_replicas_making_a_workspaces_first_keys_at_once_agree_on_them(settings: Settings) -> None:
    async with database_with_workspaces(settings) as (database, (acme, _)):

        async def first_use(replica: KeyHierarchy) -> WorkspaceKeys:
            async with database.session() as session, session.begin():
                return await replica.keys_of(session, acme, ADMIN, "read")

        one, two = (KeyHierarchy(LocalKeyProvider(settings.kek_path)) for _ in range(2))
        made = await asyncio.gather(first_use(one), first_use(two))
        assert made[0].data == made[1].data
        assert made[0].index == made[1].index
        async with database.session() as session:
            created = await session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "key.create")
            )
        assert created == 2  # one per key: the replica whose insert lost records nothing


@pytest.mark.backends("sqlite")
async def test_no_unwrapped_key_is_in_the_database_file_or_its_wal(settings: Settings) -> None:
    hierarchy = KeyHierarchy(LocalKeyProvider(settings.kek_path))
    async with database_with_workspaces(settings) as (database, (acme, rival)):
        async with database.session() as session, session.begin():
            made = [await hierarchy.keys_of(session, ws, ADMIN, "read") for ws in (acme, rival)]
            await hierarchy.new_version(session, acme, KeyPurpose.DATA, ADMIN, "rotation")
        async with database.session() as session, session.begin():
            made.append(await hierarchy.keys_of(session, acme, ADMIN, "read"))
        database_file = Path(settings.effective_database_url.removeprefix("sqlite:///"))
        stored = b"".join(path.read_bytes() for path in database_file.parent.glob(f"{database_file.name}*"))
        async with database.session() as session:
            wrapped = list(await session.scalars(select(DataKey.wrapped)))
        assert all(blob in stored for blob in wrapped)  # what was written is what is searched
        secrets = {key for keys in made for key in (*keys.data.values(), keys.index)}
        assert len(secrets) == 5  # acme: data v1, v2, index; rival: data, index
        for secret in secrets:
            assert secret not in stored
            assert secret.hex().encode() not in stored
