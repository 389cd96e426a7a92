"""The key hierarchy: the provider's KEK wraps each workspace's data keys, which live in
`data_keys`, versioned, made on first use.

Unwrapped keys are cached in this process's memory only (never written, never logged; their
reprs hide them), so the provider is asked once per workspace and key version, and each such
unwrap is an audit entry. A version this process has not seen (another replica rotated) is
unwrapped when first asked for.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.db.dialects import insert_or_ignore
from justmaily.server.protection.audit import Actor, record
from justmaily.server.protection.models import DataKey, KeyPurpose
from justmaily.server.protection.providers import KeyProvider, Wrapped

_KEY_BYTES = 32


def wrap_context(workspace_id: uuid.UUID, purpose: KeyPurpose, version: int) -> bytes:
    """What a wrapped key is bound to: moved to another workspace, purpose or version, it does
    not unwrap."""
    return f"justmaily/data-key/v1/{workspace_id}/{purpose.value}/{version}".encode()


class ConcurrentRotationError(RuntimeError):
    """Another rotation made the same key version at the same moment: ask again."""


class UnknownKeyVersionError(LookupError):
    """Something names a key version the workspace does not have (altered, or from elsewhere)."""


@dataclass(frozen=True)
class WorkspaceKeys:
    """A workspace's unwrapped keys: every data key version (to open), the current one (to seal),
    and the current index key."""

    workspace_id: uuid.UUID
    current: int
    data: Mapping[int, bytes] = field(repr=False)
    index_version: int
    index: bytes = field(repr=False)
    # AES-GCM contexts by version, made once: key expansion costs more than sealing a short cell.
    _aeads: dict[int, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def aead(self, version: int) -> AESGCM:
        found = self._aeads.get(version)
        if found is None:
            found = self._aeads[version] = AESGCM(self.data_key(version))
        return found

    def data_key(self, version: int) -> bytes:
        try:
            return self.data[version]
        except KeyError:
            raise UnknownKeyVersionError(
                f"workspace {self.workspace_id} has no data key version {version}"
                f" (it has {sorted(self.data)})"
            ) from None


class KeyHierarchy:
    def __init__(self, provider: KeyProvider) -> None:
        self.provider = provider
        self._lock = threading.Lock()
        self._unwrapped: dict[tuple[uuid.UUID, KeyPurpose, int], bytes] = {}

    def __repr__(self) -> str:
        return f"KeyHierarchy({self.provider.name})"

    def forget(self, workspace_id: uuid.UUID | None = None) -> None:
        """Drop cached keys (all, or one workspace's): the next use unwraps them again."""
        with self._lock:
            for cached in [k for k in self._unwrapped if workspace_id is None or k[0] == workspace_id]:
                del self._unwrapped[cached]

    async def keys_of(
        self, session: AsyncSession, workspace_id: uuid.UUID, actor: Actor, reason: str
    ) -> WorkspaceKeys:
        """The workspace's keys, made on first use. `actor` and `reason` go to the audit log
        when a key has to be unwrapped (not when it comes from the cache)."""
        rows = await self._rows(session, workspace_id)
        if not any(row.purpose is KeyPurpose.DATA for row in rows) or not any(
            row.purpose is KeyPurpose.INDEX for row in rows
        ):
            await self._create_missing(session, workspace_id, rows, actor)
            rows = await self._rows(session, workspace_id)
        data: dict[int, bytes] = {}
        index: dict[int, bytes] = {}
        for row in rows:
            opened = await self._unwrapped_key(session, row, actor, reason)
            (data if row.purpose is KeyPurpose.DATA else index)[row.version] = opened
        current_index = max(index)
        return WorkspaceKeys(workspace_id, max(data), data, current_index, index[current_index])

    async def cached_keys(self, session: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceKeys | None:
        """The workspace's keys if this process has unwrapped every version already, else None.

        Writes nothing (no key made, no unwrap audited), so it serves read-only sessions; on None
        the caller asks `keys_of` in a writable session once, and from then on this answers."""
        rows = await self._rows(session, workspace_id)
        data: dict[int, bytes] = {}
        index: dict[int, bytes] = {}
        with self._lock:
            for row in rows:
                cached = self._unwrapped.get((row.workspace_id, row.purpose, row.version))
                if cached is None:
                    return None
                (data if row.purpose is KeyPurpose.DATA else index)[row.version] = cached
        if not data or not index:
            return None
        current_index = max(index)
        return WorkspaceKeys(workspace_id, max(data), data, current_index, index[current_index])

    async def new_version(
        self, session: AsyncSession, workspace_id: uuid.UUID, purpose: KeyPurpose, actor: Actor, reason: str
    ) -> int:
        """A new key of `purpose` for the workspace, which seals from now on; returns its version.
        Older versions stay until a rotation has re-sealed everything under the new one."""
        latest = await session.scalar(
            select(DataKey.version)
            .where(DataKey.workspace_id == workspace_id, DataKey.purpose == purpose)
            .order_by(DataKey.version.desc())
            .limit(1)
        )
        version = (latest or 0) + 1
        if not await self._insert(session, workspace_id, purpose, version):
            raise ConcurrentRotationError(f"{purpose.value} key v{version} was just made by another rotation")
        await record(
            session,
            actor,
            "key.create",
            f"{purpose.value} key v{version}",
            reason=reason,
            workspace_id=workspace_id,
        )
        return version

    async def rewrap(self, session: AsyncSession, actor: Actor, reason: str, *, limit: int = 100) -> int:
        """Re-wrap up to `limit` data keys wrapped under an older KEK with the current one (after
        the provider made a new KEK); returns how many. Call until 0: each batch is the caller's
        transaction, so a crash loses nothing and the next run resumes where it stopped."""
        current = self.provider.current_version()
        stale = list(
            await session.scalars(
                select(DataKey)
                .where(DataKey.kek_version != current)
                .order_by(DataKey.workspace_id, DataKey.purpose, DataKey.version)
                .limit(limit)
                .with_for_update()
            )
        )
        for row in stale:
            key = await self._unwrapped_key(session, row, actor, reason)
            wrapped = self.provider.wrap(key, wrap_context(row.workspace_id, row.purpose, row.version))
            row.kek_version, row.wrapped = wrapped.kek_version, wrapped.blob
            await record(
                session,
                actor,
                "key.rewrap",
                f"{row.purpose.value} key v{row.version} to KEK v{current}",
                reason=reason,
                workspace_id=row.workspace_id,
            )
        await session.flush()
        return len(stale)

    async def stale_count(self, session: AsyncSession) -> int:
        """How many data keys an older KEK still wraps."""
        current = self.provider.current_version()
        query = select(func.count()).select_from(DataKey).where(DataKey.kek_version != current)
        return int(await session.scalar(query) or 0)

    async def versions(self, session: AsyncSession, workspace_id: uuid.UUID) -> list[DataKey]:
        """The workspace's key rows (wrapped keys only: nothing is unwrapped)."""
        rows = await self._rows(session, workspace_id)
        return sorted(rows, key=lambda row: (row.purpose, row.version))

    async def _rows(self, session: AsyncSession, workspace_id: uuid.UUID) -> list[DataKey]:
        return list(await session.scalars(select(DataKey).where(DataKey.workspace_id == workspace_id)))

    async def _create_missing(
        self, session: AsyncSession, workspace_id: uuid.UUID, rows: list[DataKey], actor: Actor
    ) -> None:
        present = {row.purpose for row in rows}
        for purpose in KeyPurpose:
            if purpose not in present and await self._insert(session, workspace_id, purpose, 1):
                await record(
                    session,
                    actor,
                    "key.create",
                    f"{purpose.value} key v1",
                    reason="first use",
                    workspace_id=workspace_id,
                )

    async def _insert(
        self, session: AsyncSession, workspace_id: uuid.UUID, purpose: KeyPurpose, version: int
    ) -> bool:
        """Whether this call made the row (False: another one made it first)."""
        wrapped = self.provider.wrap(
            secrets.token_bytes(_KEY_BYTES), wrap_context(workspace_id, purpose, version)
        )
        # Two replicas making the first key at once: one row wins, both then read it.
        result = await session.execute(
            insert_or_ignore(session, DataKey).values(
                workspace_id=workspace_id,
                purpose=purpose,
                version=version,
                kek_version=wrapped.kek_version,
                wrapped=wrapped.blob,
                created_at=utcnow(),
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def _unwrapped_key(self, session: AsyncSession, row: DataKey, actor: Actor, reason: str) -> bytes:
        cache_key = (row.workspace_id, row.purpose, row.version)
        with self._lock:
            cached = self._unwrapped.get(cache_key)
        if cached is not None:
            return cached
        key = self.provider.unwrap(
            Wrapped(row.kek_version, row.wrapped), wrap_context(row.workspace_id, row.purpose, row.version)
        )
        await record(
            session,
            actor,
            "key.unwrap",
            f"{row.purpose.value} key v{row.version}",
            reason=reason,
            workspace_id=row.workspace_id,
        )
        with self._lock:
            self._unwrapped[cache_key] = key
        return key
