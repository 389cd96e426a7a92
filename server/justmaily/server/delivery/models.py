"""Tables of the delivery domain: sending domains and relays, sends, the outbox, message events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, enum_column, new_id, utcnow
from justmaily.shared.delivery import EventKind, EventSource, MessageState, SendStatus


class SendingDomain(Base):
    """A domain the workspace sends from, with its DKIM keys (private keys sealed, see secrets.py)."""

    __tablename__ = "sending_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "domain"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253))
    selector: Mapped[str] = mapped_column(String(63))
    rsa_key: Mapped[bytes] = mapped_column(LargeBinary)
    ed25519_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Relay(Base):
    """An SMTP relay a workspace sends through, tried in `priority` order."""

    __tablename__ = "relays"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    # smtp:// or smtps:// without credentials; the password is sealed (see secrets.py).
    url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str] = mapped_column(String(200), default="")
    password: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    priority: Mapped[int] = mapped_column(Integer, default=100)
    max_per_second: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Send(Base):
    """One sending of a campaign: the approved content frozen, the audience, and the schedule."""

    __tablename__ = "sends"
    __table_args__ = (
        Index("ix_sends_due", "status", "send_at"),
        Index("ix_sends_campaign", "campaign_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    status: Mapped[SendStatus] = mapped_column(enum_column(SendStatus))
    list_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact_lists.id", ondelete="SET NULL"), default=None
    )
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL"), default=None
    )
    # The approved content, frozen when the send was created (sender, subject, preheader, body).
    content: Mapped[dict[str, str]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The links of the approved body, by number: a click token can only lead to one of these.
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    alert: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The certificate of the approved content (hex serial) and, once finished, the send's log
    # entry: the Merkle root of its messages (docs/trust.md).
    certificate_serial: Mapped[str] = mapped_column(String(40), default="")
    log_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # An A/B test of subject lines: its settings, subjects, sample and winner (ab_testing.AbState).
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class OutboxMessage(Base):
    """One recipient's message of a send: the unit of exactly-once delivery (docs/delivery.md)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("send_id", "contact_id"),
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_send_state", "send_id", "state"),
        # Few rows: counting a big send's in-doubt messages must not read all of its rows.
        Index(
            "ix_outbox_in_doubt",
            "send_id",
            sqlite_where=text("in_doubt = 1"),
            postgresql_where=text("in_doubt"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    send_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    state: Mapped[MessageState] = mapped_column(enum_column(MessageState), default=MessageState.QUEUED)
    # Fixed when queued, so a retry re-sends the same Message-ID.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    relay: Mapped[str] = mapped_column(String(100), default="")
    # Handed to a relay when the sender crashed, so sent again: the recipient may have two.
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    # Base64 SHA-256 of the sent body, DKIM-relaxed (the bh= of its signatures): with the
    # Message-ID, the message's leaf in its send's batch tree (shared/evidence.py).
    digest: Mapped[str] = mapped_column(String(64), default="")
    # Which subject line of an A/B test this message carries (None: the subject), and whether
    # it was in the test's sample (the rest get the winner's subject).
    variant: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    ab_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MessageEvent(Base):
    """Something that happened to a message: the engagement that segments and analytics read."""

    __tablename__ = "message_events"
    __table_args__ = (
        Index("ix_message_events_contact", "contact_id", "kind", "occurred_at"),
        Index("ix_message_events_send", "send_id", "kind"),
        Index("ix_message_events_imported", "imported_campaign_id", "kind"),
        # One record per event a provider or an export names: a replayed webhook or a file
        # imported twice adds nothing.
        UniqueConstraint("workspace_id", "source", "external_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    send_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sends.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind))
    detail: Mapped[str] = mapped_column(String(2000), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[EventSource] = mapped_column(
        enum_column(EventSource), default=EventSource.TRACKING, server_default=EventSource.TRACKING.value
    )
    # An open made by a machine, not a person: a privacy proxy (Apple Mail Privacy Protection)
    # fetches every message's images. Open rates leave these out; segments still see them.
    machine: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The event's own id where its source has one (a provider's event id, an import's row key).
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # The other platform's campaign an imported event belongs to (its send_id is then empty).
    imported_campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("imported_campaigns.id", ondelete="CASCADE"), default=None
    )
