"""A workspace's keys reached from nothing but a session: how the audiences repository seals and
opens personal data without every caller passing keys along.

Sessions made by `Database` carry it and whether they may write (`session.info`). One
`KeyHierarchy` per database (so one cache of unwrapped keys per process and database). A
writable session asks `keys_of` (keys made on first use, unwraps audited in that transaction);
a read-only one uses the keys this process has unwrapped already, and otherwise unwraps them
once in a short write session of its own, so the audit entries are committed. Never ask from a
read-only session while holding a write session on SQLite: the short write session would wait
for this process's own write turn.
"""

from __future__ import annotations

import uuid
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database
from justmaily.server.protection.audit import Actor
from justmaily.server.protection.hierarchy import KeyHierarchy, WorkspaceKeys
from justmaily.server.protection.providers import provider_from

_hierarchies: WeakKeyDictionary[Database, KeyHierarchy] = WeakKeyDictionary()
_MEMO = "justmaily_workspace_keys"
PERSONAL_DATA = Actor.system("personal-data")


def hierarchy_of(database: Database) -> KeyHierarchy:
    found = _hierarchies.get(database)
    if found is None:
        found = _hierarchies[database] = KeyHierarchy(provider_from(database.settings))
    return found


async def workspace_keys(session: AsyncSession, workspace_id: uuid.UUID) -> WorkspaceKeys:
    """The workspace's keys, remembered for the rest of the session."""
    memo: dict[uuid.UUID, WorkspaceKeys] = session.info.setdefault(_MEMO, {})
    found = memo.get(workspace_id)
    if found is not None:
        return found
    database = session.info.get("database")
    if not isinstance(database, Database):
        raise RuntimeError("this session was not made by a Database: it cannot reach the workspace's keys")
    hierarchy = hierarchy_of(database)
    reason = "seal, open or index personal data"
    if not session.info.get("read_only"):
        keys = await hierarchy.keys_of(session, workspace_id, PERSONAL_DATA, reason)
    else:
        cached = await hierarchy.cached_keys(session, workspace_id)
        if cached is None:
            async with database.session() as writer, writer.begin():
                cached = await hierarchy.keys_of(writer, workspace_id, PERSONAL_DATA, reason)
        keys = cached
    memo[workspace_id] = keys
    return keys
