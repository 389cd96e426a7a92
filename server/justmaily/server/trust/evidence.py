"""What was sent, on the record: a finished send's batch tree, and one message's proof bundle.

A send's entry holds the RFC 9162 root over one leaf per message sent (`shared/evidence.py`:
its Message-ID and body hash), in Message-ID order (by code point), so any one message can be
proven part of it without the others being revealed. The batch is stored when the send is done
(`batch_leaves`, `batch_nodes`: append-only, apart from the outbox, so erasing a contact later
changes nothing another message proves), with its perfect subtrees as the log stores its own:
a proof reads O(log n) nodes in one query.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime

import msgspec
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.trust import certificates, merkle
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogError, LogSigner, b64
from justmaily.server.trust.models import BatchLeaf, BatchNode, CertificateRow, TreeHeadRow
from justmaily.server.trust.views import to_wire
from justmaily.shared import trust as wire
from justmaily.shared.trust import EntryKind
from justmaily.shared.verify.evidence import message_leaf
from justmaily.shared.verify.transparency import leaf_hash

_CHUNK = 5_000  # rows per INSERT while storing a batch


class SendRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the log says of a send that is done (or cancelled after it started); the delivery
    domain, which owns sends, hands it over with the (Message-ID, body hash) of every message sent."""

    workspace_id: uuid.UUID
    send_id: uuid.UUID
    campaign_id: uuid.UUID
    content_hash: str
    certificate_serial: str | None
    finished_at: datetime | None


async def record_send(session: AsyncSession, send: SendRecord, messages: Iterable[tuple[str, str]]) -> int:
    """Store the send's batch and append its entry (in the transaction that marks it done);
    returns the entry's index. Memory stays flat: only the tree's right edge is kept."""
    batch = sorted(messages)
    edge: dict[int, tuple[int, bytes]] = {}  # level -> the last node completed there

    def read(level: int, position: int) -> bytes:
        stored_position, value = edge[level]
        assert stored_position == position
        return value

    leaves, nodes = [], []
    for position, (message_id, digest) in enumerate(batch):
        leaves.append(
            {"message_id": message_id, "send_id": send.send_id, "position": position, "digest": digest}
        )
        for level, index, value in merkle.append_nodes(
            position, leaf_hash(message_leaf(message_id, digest)), read
        ):
            edge[level] = (index, value)
            nodes.append({"send_id": send.send_id, "level": level, "position": index, "hash": value})
        if len(nodes) >= _CHUNK:
            await _store(session, leaves, nodes)
            leaves, nodes = [], []
    await _store(session, leaves, nodes)
    root = merkle.root(len(batch), read)
    data = {
        "workspace_id": send.workspace_id,
        "send_id": send.send_id,
        "campaign_id": send.campaign_id,
        "content_hash": send.content_hash,
        "certificate_serial": send.certificate_serial,
        "messages": len(batch),
        "batch_root": base64.b64encode(root).decode(),
        "finished_at": send.finished_at,
    }
    return await trust_log.append(
        session, trust_log.Record(EntryKind.SEND, data, workspace_id=send.workspace_id)
    )


async def _store(
    session: AsyncSession, leaves: list[dict[str, object]], nodes: list[dict[str, object]]
) -> None:
    for table, rows in ((BatchLeaf, leaves), (BatchNode, nodes)):
        for chunk in _chunks(rows):
            await session.execute(insert(table), chunk)


def _chunks(rows: list[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


class ProofUnavailableError(Exception):
    """The message exists but cannot be proven yet; the message says why."""


async def message_proof(
    session: AsyncSession,
    leaf: BatchLeaf,
    send_entry: int | None,
    certificate_serial: str | None,
    signer: LogSigner,
    ca: CertificateAuthority,
) -> wire.MessageProof:
    """Everything `justmaily verify message` needs for this sent message, offline; `send_entry`
    is its send's log index and `certificate_serial` the certificate its messages name."""
    if send_entry is None:
        raise ProofUnavailableError("its send's record is missing")
    head = await session.scalar(
        select(TreeHeadRow).where(TreeHeadRow.size > send_entry).order_by(TreeHeadRow.size.desc()).limit(1)
    )
    if head is None:
        raise ProofUnavailableError("no signed tree head covers its send yet: try again in a few seconds")
    entry = await trust_log.entry(session, send_entry)
    row = await session.get(CertificateRow, certificate_serial)
    if entry is None or row is None:
        raise ProofUnavailableError("its send's log entry or certificate is missing")
    size = int(to_wire(entry).data["messages"])
    try:
        needed = merkle.needed(lambda node: merkle.inclusion(leaf.position, size, node))
        stored = await trust_log.read_nodes(session, needed, BatchNode, BatchNode.send_id == leaf.send_id)
        batch_hashes = merkle.inclusion(
            leaf.position, size, lambda level, position: stored[(level, position)]
        )
        inclusion = await trust_log.inclusion(session, send_entry, head.size)
    except LogError as exc:
        raise ProofUnavailableError(str(exc)) from None
    return wire.MessageProof(
        message_id=leaf.message_id,
        body_sha256=leaf.digest,
        batch_index=leaf.position,
        batch_size=size,
        batch_hashes=[b64(h) for h in batch_hashes],
        send_entry=to_wire(entry),
        inclusion=wire.InclusionProof(
            index=send_entry, tree_size=head.size, hashes=[b64(h) for h in inclusion]
        ),
        tree_head=to_wire(head),
        certificate=to_wire(row),
        log_key=wire.LogKey(origin=signer.origin, verifier_key=signer.verifier_key),
        ca_pem=ca.certificate_pem.decode("ascii"),
        crl_pem=(await certificates.revocation_list(session, ca)).decode("ascii"),
    )
