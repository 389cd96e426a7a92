"""The documented generic CSV: one row per event (docs/analytics.md).

    campaign,subject,sent_at,email,event,occurred_at[,machine]

Times are ISO 8601 with their offset; `event` is one of EVENTS' names; `machine` (optional) is
true for an open a privacy proxy made. Other columns are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from justmaily.server.analytics.imports.rows import (
    Event,
    FileRefused,
    Parsed,
    RowIssue,
    address,
    aware_time,
    bounded,
    header_index,
    records,
    text_of,
)
from justmaily.shared.delivery import EventKind

COLUMNS = ("campaign", "subject", "sent_at", "email", "event", "occurred_at")
EVENTS: dict[str, EventKind] = {
    "sent": EventKind.SENT,
    "delivered": EventKind.DELIVERED,
    "open": EventKind.OPENED,
    "opened": EventKind.OPENED,
    "click": EventKind.CLICKED,
    "clicked": EventKind.CLICKED,
    "bounce": EventKind.BOUNCED,
    "bounced": EventKind.BOUNCED,
    "complaint": EventKind.COMPLAINED,
    "complained": EventKind.COMPLAINED,
    "unsubscribe": EventKind.UNSUBSCRIBED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
}
_T = TypeVar("_T")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0", ""})


def parse(data: bytes) -> Parsed:
    rows = records(text_of(data))
    first = next(rows, None)
    if first is None:
        raise FileRefused("the file is empty: expected a header " + ",".join(COLUMNS))
    _, header = first
    index = header_index(header, COLUMNS, "generic CSV")
    machine_at = index.get("machine")
    parsed = Parsed()
    # Files repeat their addresses and send times on every row: each is checked once.
    addresses: dict[str, str] = {}
    times: dict[str, datetime] = {}
    for row, cells in rows:
        parsed.rows += 1
        if len(cells) != len(header):
            parsed.issues.append(
                RowIssue(row, f"{len(cells)} cells where the header has {len(header)}: a cut or shifted row")
            )
            continue
        try:
            kind_text = cells[index["event"]].strip().lower()
            kind = EVENTS.get(kind_text)
            if kind is None:
                raise ValueError(f"event {kind_text[:40]!r} is none of {', '.join(sorted(EVENTS))}")
            machine_text = cells[machine_at].strip().lower() if machine_at is not None else ""
            if machine_text not in _TRUE | _FALSE:
                raise ValueError(f"machine {machine_text[:20]!r} is neither true nor false")
            parsed.events.append(
                Event(
                    row=row,
                    campaign=bounded(cells[index["campaign"]], "campaign", 200),
                    subject=cells[index["subject"]].strip()[:998],
                    sent_at=_cached(times, cells[index["sent_at"]], lambda text: aware_time(text, "sent_at")),
                    address=_cached(addresses, cells[index["email"]], address),
                    kind=kind,
                    occurred_at=aware_time(cells[index["occurred_at"]], "occurred_at"),
                    machine=kind is EventKind.OPENED and machine_text in _TRUE,
                )
            )
        except ValueError as exc:
            parsed.issues.append(RowIssue(row, str(exc)))
    return parsed


def _cached(cache: dict[str, _T], text: str, read: Callable[[str], _T]) -> _T:
    found = cache.get(text)
    if found is None:
        found = cache[text] = read(text)  # raises ValueError for a bad cell: never cached
    return found
