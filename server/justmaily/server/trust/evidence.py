"""What was sent, on the record: a finished send's batch root, and one message's proof bundle.

A send's entry holds the RFC 9162 root over one leaf per message sent (`shared/evidence.py`:
its Message-ID and body hash), in Message-ID order, so any one message can later be proven to
be part of it without the others being revealed.
"""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.models import OutboxMessage, Send
from justmaily.server.trust import certificates
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogError, LogSigner, b64
from justmaily.server.trust.models import CertificateRow, TreeHeadRow
from justmaily.shared import transparency
from justmaily.shared import trust as wire
from justmaily.shared.delivery import MessageState
from justmaily.shared.evidence import message_leaf
from justmaily.shared.trust import EntryKind


async def _batch(session: AsyncSession, send_id: object) -> list[tuple[str, str]]:
    """(Message-ID, body hash) of every message of the send that went out, in Message-ID order
    (sorted here, by code point: a database's collation could order them otherwise)."""
    rows = await session.execute(
        select(OutboxMessage.message_id, OutboxMessage.digest).where(
            OutboxMessage.send_id == send_id,
            OutboxMessage.state == MessageState.SENT,
            OutboxMessage.digest != "",
        )
    )
    return sorted((str(message_id), str(digest)) for message_id, digest in rows.all())


async def record_send(session: AsyncSession, send: Send) -> int:
    """Append the finished send's entry (in the transaction that marks it done); returns its index."""
    batch = await _batch(session, send.id)
    root = transparency.root_hash([message_leaf(message_id, digest) for message_id, digest in batch])
    data = {
        "workspace_id": send.workspace_id,
        "send_id": send.id,
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


class ProofUnavailableError(Exception):
    """The message exists but cannot be proven yet (or at all); the message says why."""


async def message_proof(
    session: AsyncSession, message: OutboxMessage, signer: LogSigner, ca: CertificateAuthority
) -> wire.MessageProof:
    """Everything `justmaily verify message` needs for this sent message, offline."""
    send = await session.get(Send, message.send_id)
    if send is None or message.state != MessageState.SENT or not message.digest:
        raise ProofUnavailableError("the message was not sent, or was sent before messages were recorded")
    if send.log_index is None:
        raise ProofUnavailableError("its send is not finished: its messages are recorded when it is done")
    head = await session.scalar(
        select(TreeHeadRow)
        .where(TreeHeadRow.size > send.log_index)
        .order_by(TreeHeadRow.size.desc())
        .limit(1)
    )
    if head is None:
        raise ProofUnavailableError("no signed tree head covers its send yet: try again in a few seconds")
    entry = await trust_log.entry(session, send.log_index)
    row = await session.get(CertificateRow, send.certificate_serial)
    if entry is None or row is None:
        raise ProofUnavailableError("its send's log entry or certificate is missing")
    batch = await _batch(session, send.id)
    leaves = [message_leaf(message_id, digest) for message_id, digest in batch]
    position = next(i for i, (message_id, _) in enumerate(batch) if message_id == message.message_id)
    try:
        inclusion = await trust_log.inclusion(session, send.log_index, head.size)
    except LogError as exc:
        raise ProofUnavailableError(str(exc)) from None
    return wire.MessageProof(
        message_id=message.message_id,
        body_sha256=message.digest,
        batch_index=position,
        batch_size=len(leaves),
        batch_hashes=[b64(h) for h in transparency.inclusion_proof(leaves, position)],
        send_entry=trust_log.entry_view(entry),
        inclusion=wire.InclusionProof(
            index=send.log_index, tree_size=head.size, hashes=[b64(h) for h in inclusion]
        ),
        tree_head=trust_log.head_view(head),
        certificate=certificates.view(row),
        log_key=wire.LogKey(origin=signer.origin, verifier_key=signer.verifier_key),
        ca_pem=ca.certificate_pem.decode("ascii"),
        crl_pem=(await certificates.revocation_list(session, ca)).decode("ascii"),
    )
