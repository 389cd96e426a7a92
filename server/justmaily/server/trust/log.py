"""The transparency log in the database: appends, roots, proofs and signed tree heads.

An entry is appended inside the transaction of what it records (an approval is committed with
its entry or not at all). Appending increments the one `log_state` row first, which serialises
appenders on PostgreSQL (a row lock until commit; SQLite has one writer anyway) and gives each
entry its index; a rolled-back transaction takes its index back with it, so indices have no
gaps. Only perfect subtrees are stored (`merkle.py`): a root or a proof reads O(log n) nodes
in one query.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.db.dialects import insert_or_ignore
from justmaily.server.keys.files import ed25519_key
from justmaily.server.trust import merkle
from justmaily.server.trust.models import LogEntry, LogNode, LogState, TreeHeadRow
from justmaily.shared.trust import EntryKind
from justmaily.shared.verify.transparency import (
    Checkpoint,
    leaf_hash,
    open_checkpoint,
    sign_checkpoint,
    verifier_key,
    verify_consistency,
)

# How far back `last_signed` looks for a head of this key: the newest one is, except after a
# key rotation, until the new key's first head.
_HEADS_SEARCHED = 50


class LogError(Exception):
    """A request the log cannot answer (an index or size it does not have); the message says why."""


class LogTamperedError(Exception):
    """The stored log is not one this server can sign: it does not extend the tree heads signed
    before, or its guards are gone. The message says what was found (docs/trust.md)."""


@dataclass(frozen=True)
class SignedTree:
    """A tree this log's key signed: its size and root, as the signature covers them."""

    size: int
    root: bytes


@dataclass(frozen=True)
class Record:
    """What to append: the kind, whose it is, and the data (JSON-able; msgspec encodes UUIDs and
    datetimes)."""

    kind: EntryKind
    data: Mapping[str, Any]
    workspace_id: uuid.UUID | None = None


def leaf_bytes(kind: EntryKind, data: Mapping[str, Any]) -> bytes:
    """The canonical JSON an entry's leaf hash covers: keys sorted, no spaces."""
    return msgspec.json.encode({**data, "kind": kind}, order="sorted")


async def append(session: AsyncSession, record: Record) -> int:
    """Append one entry; returns its index."""
    return (await append_many(session, [record]))[0]


async def append_many(session: AsyncSession, records: Iterable[Record]) -> list[int]:
    """Append entries in order, in the caller's transaction; returns their indices."""
    items = list(records)
    if not items:
        return []
    grown = await session.execute(
        update(LogState)
        .where(LogState.id == 1)
        .values(size=LogState.size + len(items))
        .returning(LogState.size)
    )
    first = int(grown.scalar_one()) - len(items)
    leaves = [leaf_bytes(record.kind, record.data) for record in items]
    hashes = [leaf_hash(leaf) for leaf in leaves]

    def grow(node: merkle.NodeReader) -> dict[merkle.NodeKey, bytes]:
        made: dict[merkle.NodeKey, bytes] = {}
        for offset, hashed in enumerate(hashes):
            reader = _overlay(made, node)
            for level, position, value in merkle.append_nodes(first + offset, hashed, reader):
                made[(level, position)] = value
        return made

    stored = await read_nodes(session, merkle.needed(grow))
    made = grow(lambda level, position: stored[(level, position)])
    now = utcnow()
    await session.execute(
        insert(LogEntry),
        [
            {
                "index": first + offset,
                "kind": record.kind,
                "workspace_id": record.workspace_id,
                "leaf": leaf,
                "created_at": now,
            }
            for offset, (record, leaf) in enumerate(zip(items, leaves, strict=True))
        ],
    )
    await session.execute(
        insert(LogNode), [{"level": lv, "position": ps, "hash": value} for (lv, ps), value in made.items()]
    )
    return list(range(first, first + len(items)))


def _overlay(made: dict[merkle.NodeKey, bytes], node: merkle.NodeReader) -> merkle.NodeReader:
    def read(level: int, position: int) -> bytes:
        found = made.get((level, position))
        return found if found is not None else node(level, position)

    return read


async def read_nodes(
    session: AsyncSession, keys: set[merkle.NodeKey], table: Any = LogNode, *where: Any
) -> dict[merkle.NodeKey, bytes]:
    """The stored nodes `keys` of `table` (`LogNode`, or a send's `BatchNode` with `where`)."""
    if not keys:
        return {}
    by_level: dict[int, list[int]] = {}
    for level, position in sorted(keys):
        by_level.setdefault(level, []).append(position)
    # One primary-key range per level: SQLite does not search its index for a row-value IN list.
    rows = await session.execute(
        select(table.level, table.position, table.hash).where(
            *where, or_(*(and_(table.level == lv, table.position.in_(ps)) for lv, ps in by_level.items()))
        )
    )
    found = {(int(level), int(position)): bytes(value) for level, position, value in rows.all()}
    missing = keys - set(found)
    if missing:  # only a damaged database loses nodes: say so rather than compute a wrong hash
        raise LogError(f"{len(missing)} tree nodes are missing, e.g. {sorted(missing)[0]}")
    return found


async def _computed(session: AsyncSession, compute: Any) -> Any:
    """Run a merkle computation with the nodes it needs read in one query."""
    stored = await read_nodes(session, merkle.needed(compute))
    return compute(lambda level, position: stored[(level, position)])


async def size(session: AsyncSession) -> int:
    return int(await session.scalar(select(LogState.size).where(LogState.id == 1)) or 0)


async def root(session: AsyncSession, tree_size: int) -> bytes:
    result: bytes = await _computed(session, lambda node: merkle.root(tree_size, node))
    return result


async def inclusion(session: AsyncSession, index: int, tree_size: int) -> list[bytes]:
    if not 0 <= index < tree_size:
        raise LogError(f"entry {index} is not in a tree of {tree_size} entries")
    if tree_size > await size(session):
        raise LogError(f"the log has fewer than {tree_size} entries")
    result: list[bytes] = await _computed(session, lambda node: merkle.inclusion(index, tree_size, node))
    return result


async def consistency(session: AsyncSession, first: int, second: int) -> list[bytes]:
    if not 0 < first <= second:
        raise LogError(f"no consistency proof from {first} to {second} entries: 0 < first <= second")
    if second > await size(session):
        raise LogError(f"the log has fewer than {second} entries")
    result: list[bytes] = await _computed(session, lambda node: merkle.consistency(first, second, node))
    return result


async def entry(session: AsyncSession, index: int) -> LogEntry | None:
    return await session.get(LogEntry, index)


# --- signed tree heads ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogSigner:
    """The log's Ed25519 key and the origin line its checkpoints carry."""

    origin: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_file(cls, path: Path, origin: str) -> LogSigner:
        return cls(origin, ed25519_key(path))

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.origin, self.private_key.public_key())

    def sign(self, tree_size: int, tree_root: bytes) -> str:
        return sign_checkpoint(Checkpoint(self.origin, tree_size, tree_root), self.origin, self.private_key)


async def publish(
    session: AsyncSession, signer: LogSigner, now: datetime | None = None, *, since: SignedTree | None = None
) -> TreeHeadRow | None:
    """Sign a tree head for the log's current size, unless one exists; returns the new head.

    Only a tree that extends what this key signed before is signed: the newest stored head this
    key signed and `since` (what the caller signed or saw before, in case stored heads were
    deleted) are checked by consistency proofs, verified as a client verifies them, and the
    entries added since by their leaf hashes. Raises LogTamperedError otherwise."""
    current = await size(session)
    stored = await last_signed(session, signer)
    if since is not None and (stored is None or stored.size < since.size):
        raise LogTamperedError(
            f"signed tree heads were removed: the newest this key signed is of"
            f" {stored.size if stored else 0} entries, where one of {since.size} was seen"
        )
    # Checked every time, grown or not: a log rewritten while nothing is added is found too.
    tree_root = await root(session, current)
    anchors = {anchor for anchor in (stored, since) if anchor is not None}
    for anchor in anchors:
        await _check_extends(session, anchor, current, tree_root)
    latest = await latest_head(session)
    if latest is not None and latest.size >= current:
        return None
    if anchors:
        await _check_new_leaves(session, max(anchor.size for anchor in anchors), current)
    row = {
        "size": current,
        "root": tree_root,
        "checkpoint": signer.sign(current, tree_root),
        "published_at": now or utcnow(),
    }
    # Replicas may publish the same size at once: the same root either way; the first stays.
    await session.execute(insert_or_ignore(session, TreeHeadRow).values(**row))
    return await session.get(TreeHeadRow, current)


async def last_signed(session: AsyncSession, signer: LogSigner) -> SignedTree | None:
    """The newest stored tree head that this log's key signed, as its signature says (a head
    signed by an earlier key is skipped; one that claims this key but does not verify, or whose
    stored root is not the signed one, is tampering)."""
    rows = await session.scalars(select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(_HEADS_SEARCHED))
    for row in rows:
        checkpoint, verdict = open_checkpoint(row.checkpoint, signer.verifier_key)
        if checkpoint is None:
            if verdict.reason.startswith("unknown key"):  # an earlier key's
                continue
            raise LogTamperedError(f"the tree head of {row.size} entries does not verify: {verdict.reason}")
        if (checkpoint.size, checkpoint.origin) != (row.size, signer.origin) or checkpoint.root != bytes(
            row.root
        ):
            raise LogTamperedError(f"the tree head of {row.size} entries was changed after it was signed")
        return SignedTree(checkpoint.size, checkpoint.root)
    return None


async def _check_extends(session: AsyncSession, anchor: SignedTree, current: int, tree_root: bytes) -> None:
    if anchor.size > current:
        raise LogTamperedError(
            f"the log has {current} entries, fewer than a tree head signed of {anchor.size}"
        )
    if anchor.size == 0:
        return
    try:
        proof = await consistency(session, anchor.size, current)
    except LogError as exc:
        raise LogTamperedError(
            f"no consistency proof from {anchor.size} to {current} entries: {exc}"
        ) from exc
    verdict = verify_consistency(anchor.size, current, anchor.root, tree_root, proof)
    if not verdict:
        raise LogTamperedError(
            f"the log of {current} entries does not extend the tree head signed of {anchor.size}"
            f" entries ({verdict.reason}): entries or nodes were changed"
        )


async def _check_new_leaves(session: AsyncSession, first: int, current: int) -> None:
    """The entries added since `first` hash to the tree's leaves (the tree is built from nodes)."""
    if first >= current:
        return
    rows = await session.execute(
        select(LogEntry.index, LogEntry.leaf).where(LogEntry.index >= first, LogEntry.index < current)
    )
    hashed = {int(index): leaf_hash(bytes(leaf)) for index, leaf in rows.all()}
    try:
        nodes = await read_nodes(session, {(0, index) for index in range(first, current)})
    except LogError as exc:
        raise LogTamperedError(f"leaves are missing: {exc}") from exc
    changed = [index for index in range(first, current) if hashed.get(index) != nodes[(0, index)]]
    if changed:
        raise LogTamperedError(f"entries {changed[:5]} do not hash to their leaves in the tree")


async def latest_head(session: AsyncSession) -> TreeHeadRow | None:
    found: TreeHeadRow | None = await session.scalar(
        select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(1)
    )
    return found


async def heads(session: AsyncSession, *, before: int | None, limit: int) -> list[TreeHeadRow]:
    """Signed tree heads, newest first (`before`: sizes below it, for the next page)."""
    query = select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(limit)
    if before is not None:
        query = query.where(TreeHeadRow.size < before)
    return list(await session.scalars(query))


async def record_keys(session: AsyncSession, keys: Mapping[str, str]) -> list[int]:
    """Log each key (the log's verifier key, the CA certificate's fingerprint, …) the first time
    it is in use, so every key change is on the record."""
    # Take the log's lock before reading: two replicas starting at once would log a key twice.
    await session.execute(update(LogState).where(LogState.id == 1).values(size=LogState.size))
    known: set[tuple[str, object]] = set()
    for leaf in await session.scalars(select(LogEntry.leaf).where(LogEntry.kind == EntryKind.KEY_ROTATION)):
        data = msgspec.json.decode(leaf)
        known.update((name, data.get(name)) for name in keys)
    new = [
        Record(EntryKind.KEY_ROTATION, {name: value, "at": utcnow()})
        for name, value in keys.items()
        if (name, value) not in known
    ]
    return await append_many(session, new)


# --- views ----------------------------------------------------------------------------------


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()
