"""The messages' events as segments read them (`opened within 30d`, `clicked`, `bounced` …).

The table is the delivery domain's (`MessageEvent`, written as messages are sent and as
recipients and providers report back). Audiences sit below delivery and must not import it, so
this names what segments read of it: a read port at the level of SQL, which a test holds to the
table itself (tests/server/audiences/test_segments.py)."""

from __future__ import annotations

from sqlalchemy import Integer, TableClause, Uuid, column, table

from justmaily.server.db.base import UTCDateTime, enum_column
from justmaily.shared.delivery import EventKind

MESSAGE_EVENTS: TableClause = table(
    "message_events",
    column("id", Integer),
    column("workspace_id", Uuid),
    column("contact_id", Uuid),
    column("kind", enum_column(EventKind)),
    column("occurred_at", UTCDateTime),
)
