"""What can go wrong, as the desktop tells people: every failure the engine reports is a
`DesktopError` whose message can be shown as it is, and whose `kind` says what to do next."""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    BAD_ADDRESS = "bad_address"
    UNREACHABLE = "unreachable"
    SIGNED_OUT = "signed_out"  # wrong password, or the sign-in ended: sign in again
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"
    SERVER = "server"
    BUSY = "busy"  # rate limited or overloaded: try again later


# `DesktopError.code` of an answer that arrived but cannot be read (not the promised JSON): the
# trust monitor takes that for misbehaviour, unlike a server that is down or busy.
UNREADABLE = "unreadable_answer"


class DesktopError(Exception):
    """A failure to show to the user: `str(error)` is the message."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
