"""What every format's reader gives: events in our vocabulary, or row issues that refuse the file.

A reader is pure: bytes in, `Parsed` out. It refuses a file it cannot read as a whole (encoding,
the header of another format, a runaway quote) with `FileRefused`, and each row it cannot read
with a `RowIssue`; the import writes nothing unless there are none (importing.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from email_validator import EmailNotValidError

from justmaily.server.audiences.csv_io import normalise_address
from justmaily.shared.delivery import EventKind

MAX_FIELD_CHARS = 2000


class FileRefused(Exception):  # noqa: N818 (read where it is caught: `except FileRefused`)
    """The file as a whole is not what was announced, or cannot be read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RowIssue:
    row: int  # 1 is the header line's row
    message: str


@dataclass(frozen=True)
class Event:
    row: int
    campaign: str
    subject: str
    sent_at: datetime  # aware, UTC
    address: str  # normalised as contacts store theirs
    kind: EventKind
    occurred_at: datetime  # aware, UTC
    machine: bool = False


@dataclass
class Parsed:
    rows: int = 0
    events: list[Event] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)


def text_of(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"not UTF-8: byte {exc.start} cannot be read") from None


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with their row numbers (1: the header); a quote left open refuses the file."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for cells in reader:
            if cells:
                yield reader.line_num, cells
    except csv.Error as exc:
        raise FileRefused(
            f"row {reader.line_num + 1} cannot be read as CSV ({exc}): is the file cut short?"
        ) from None


def header_index(cells: list[str], required: tuple[str, ...], platform: str) -> dict[str, int]:
    """Column positions by lower-case name; a missing column means another kind of file."""
    names = [cell.strip().lower() for cell in cells]
    missing = [name for name in required if name not in names]
    if missing:
        raise FileRefused(
            f"not a {platform} file: column(s) {', '.join(missing)} missing (found: {', '.join(names)[:300]})"
        )
    return {name: names.index(name) for name in names}


def aware_time(text: str, what: str) -> datetime:
    """An ISO 8601 time with its offset, as UTC; a time without one is refused, not guessed."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what} is not an ISO 8601 time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{what} has no time zone (add Z or an offset such as +02:00): {text[:40]!r}")
    return parsed.astimezone(UTC)


def address(text: str) -> str:
    try:
        return normalise_address(text.strip())
    except EmailNotValidError as exc:
        raise ValueError(f"email {text[:80]!r} is not an address: {exc}") from None


def bounded(text: str, what: str, limit: int = MAX_FIELD_CHARS) -> str:
    value = text.strip()
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    return value
