"""Tables of data protection: the wrapped data keys of each workspace, and the audit log.

A data key row holds only the key wrapped under a KEK (providers.py): a copy of the database
without the provider reveals none. Deleting a workspace deletes its keys (the foreign key
cascades), which leaves whatever copy of its sealed data survives in backups unreadable.

The audit log is append-only (triggers of migration 0017, as the transparency log's) and has no
foreign keys: deleting a workspace or a person must not delete what was done.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, enum_column, new_id, utcnow


class KeyPurpose(enum.StrEnum):
    DATA = "data"  # AES-256-GCM: seals personal data
    INDEX = "index"  # HMAC-SHA256: blind indexes for equality look-ups


class DataKey(Base):
    __tablename__ = "data_keys"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[KeyPurpose] = mapped_column(enum_column(KeyPurpose), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who (a person, an API key, a service credential or the server itself) did what, when, why."""

    __tablename__ = "audit_entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
