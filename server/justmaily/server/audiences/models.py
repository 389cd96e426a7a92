"""Tables of the audiences domain. Only `repository.py` reads or writes them: they hold personal data.

Addresses are stored sealed (`protection/fields.py`: AES-256-GCM under the workspace's data key,
bound to the row) and found by `email_key`, their blind index (HMAC-SHA256 of the normalised
address under the workspace's index key). The repository opens them into `email` on every read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, overload

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, enum_column, new_id, utcnow
from justmaily.shared.audiences import ConsentStatus, ImportStatus, SuppressionReason


class _Opened:
    """The opened address of a row whose column holds it sealed: set by the repository when it
    reads or writes the row, never stored as such."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_opened_{name}"

    @overload
    def __get__(self, row: None, owner: type | None = None) -> _Opened: ...
    @overload
    def __get__(self, row: object, owner: type | None = None) -> str: ...
    def __get__(self, row: object | None, owner: type | None = None) -> str | _Opened:
        if row is None:  # on the class (the declarative constructor asks whether `email` exists)
            return self
        try:
            return str(row.__dict__[self._slot])
        except KeyError:
            raise AttributeError(
                f"{type(row).__name__}'s address is sealed: read it through audiences/repository.py"
            ) from None

    def __set__(self, row: object, value: str) -> None:
        row.__dict__[self._slot] = value


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email_key"),
        Index("ix_contacts_listing", "workspace_id", "created_at", "id"),
        # A send queues its audience page by page in id order: without this, each page sorted
        # all of the workspace's contacts (O(n²) for the whole send).
        Index("ix_contacts_by_id", "workspace_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # The address as normalised by email-validator (ASCII domain), sealed; `email_key` is the
    # blind index of its lower-cased form, the identity for look-ups, de-duplication and suppression.
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    email_key: Mapped[str] = mapped_column(String(320))
    email = _Opened()
    name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consent: Mapped[ConsentStatus] = mapped_column(enum_column(ConsentStatus))
    consent_source: Mapped[str] = mapped_column(String(200), default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactList(Base):
    __tablename__ = "contact_lists"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListMember(Base):
    __tablename__ = "list_members"
    __table_args__ = (Index("ix_list_members_contact", "contact_id"),)

    list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # The filter in the segment language (docs/segments.md); compiled to SQL on every use.
    filter: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """An address that must never be sent to again, whether or not it is still a contact."""

    __tablename__ = "suppressions"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    email_key: Mapped[str] = mapped_column(String(320), primary_key=True)  # the blind index
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    email = _Opened()
    reason: Mapped[SuppressionReason] = mapped_column(enum_column(SuppressionReason))
    detail: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactImport(Base):
    """A CSV import: rows are validated into `import_rows` as they stream in, then merged at once."""

    __tablename__ = "contact_imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    list_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[ImportStatus] = mapped_column(enum_column(ImportStatus), default=ImportStatus.WAITING)
    consent_source: Mapped[str] = mapped_column(String(200))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_valid: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    contacts_created: Mapped[int] = mapped_column(Integer, default=0)
    contacts_updated: Mapped[int] = mapped_column(Integer, default=0)
    # The first rejected rows with their reasons (JSON list), and why a whole file was refused.
    rejections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ImportRow(Base):
    """A valid row of an import in progress (deleted once merged or abandoned)."""

    __tablename__ = "import_rows"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True
    )
    email_key: Mapped[str] = mapped_column(String(320), primary_key=True)  # the blind index
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(String(200), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    row_number: Mapped[int] = mapped_column(Integer)


class Confirmation(Base):
    """A double opt-in request: an e-mail with a link that turns a pending contact subscribed."""

    __tablename__ = "confirmations"
    __table_args__ = (Index("ix_confirmations_due", "sent_at", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
