"""Tables of the transparency log. Entries, nodes and tree heads are append-only: the migration
adds triggers that refuse UPDATE and DELETE, and what an operator who drops them could change is
caught by the signed tree heads that clients keep (docs/trust.md)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, enum_column, utcnow
from justmaily.shared.roles import Role
from justmaily.shared.trust import EntryKind


class LogEntry(Base):
    """One leaf: `leaf` is the exact bytes hashed (canonical JSON of kind and data)."""

    __tablename__ = "log_entries"

    index: Mapped[int] = mapped_column("log_index", BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    # Whose entry it is (None: the installation's): only its members read the data. No foreign
    # key: deleting a workspace must not delete history.
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogNode(Base):
    """The hash of a perfect subtree: 2**level leaves from position * 2**level (merkle.py)."""

    __tablename__ = "log_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LogState(Base):
    """The log's size, in one row: appending increments it, which also serialises appenders."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)


class TreeHeadRow(Base):
    """A signed tree head as published: the C2SP checkpoint note."""

    __tablename__ = "tree_heads"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    checkpoint: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateRow(Base):
    """A campaign certificate issued at an approval: what it binds, the PEM, and its revocation.

    No foreign keys: deleting a campaign or a workspace must not delete what was attested."""

    __tablename__ = "certificates"

    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # hex
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    revision: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    approvers: Mapped[list[str]] = mapped_column(JSON)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    log_index: Mapped[int] = mapped_column(BigInteger)  # the approval's entry
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    pem: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revocation_reason: Mapped[str] = mapped_column(String(40), default="")


class ServiceCredentialRow(Base):
    """A service credential (a client certificate from the CA); its private key was shown once
    and is not kept."""

    __tablename__ = "service_credentials"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    issued_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    renewed_from: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class BatchLeaf(Base):
    """One sent message of a finished send, as its batch tree holds it (append-only): kept apart
    from the outbox so that erasing a contact does not change what other messages prove."""

    __tablename__ = "batch_leaves"

    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    send_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    position: Mapped[int] = mapped_column(BigInteger)
    digest: Mapped[str] = mapped_column(String(64))


class BatchNode(Base):
    """A perfect subtree of a send's batch tree (as `LogNode`, per send; append-only)."""

    __tablename__ = "batch_nodes"

    send_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
