"""Reading the y-protocols messages a room receives, and writing the ones it adds."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pycrdt import Decoder, YMessageType, YSyncMessageType, write_var_uint

from justmaily.shared.collaboration import STORED_MESSAGE_TYPE

QUERY_AWARENESS = 3  # y-protocols: "send me everyone's presence"


class Kind(enum.Enum):
    SYNC_STEP1 = "sync_step1"  # a state vector: "what am I missing?"
    SYNC_STEP2 = "sync_step2"  # an update answering step 1
    SYNC_UPDATE = "sync_update"  # an update
    AWARENESS = "awareness"
    QUERY_AWARENESS = "query_awareness"


class BadMessageError(ValueError):
    """Not a message of the Yjs sync or awareness protocols."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    payload: bytes  # the update, state vector or awareness update, without framing

    @property
    def carries_update(self) -> bool:
        return self.kind in (Kind.SYNC_STEP2, Kind.SYNC_UPDATE)


_SYNC_KINDS = {
    YSyncMessageType.SYNC_STEP1: Kind.SYNC_STEP1,
    YSyncMessageType.SYNC_STEP2: Kind.SYNC_STEP2,
    YSyncMessageType.SYNC_UPDATE: Kind.SYNC_UPDATE,
}


def parse(raw: bytes) -> Message:
    try:
        if raw and raw[0] == YMessageType.SYNC and len(raw) >= 2 and raw[1] in _SYNC_KINDS:
            return Message(_SYNC_KINDS[YSyncMessageType(raw[1])], _exact(raw[2:]))
        if raw and raw[0] == YMessageType.AWARENESS:
            return Message(Kind.AWARENESS, _exact(raw[1:]))
        if raw == bytes([QUERY_AWARENESS]):
            return Message(Kind.QUERY_AWARENESS, b"")
    except (IndexError, ValueError, RuntimeError) as exc:  # pycrdt's decoder raises RuntimeError
        raise BadMessageError(f"malformed message: {exc}") from exc
    raise BadMessageError(f"unknown message type {raw[:2].hex() or '(empty)'}")


def _exact(framed: bytes) -> bytes:
    """The length-prefixed payload, which must fill the frame exactly (no truncation, no tail)."""
    declared = Decoder(framed).read_var_uint()
    payload = framed[len(write_var_uint(declared)) :]
    if len(payload) != declared:
        raise BadMessageError(f"frame holds {len(payload)} bytes where its prefix says {declared}")
    return payload


@dataclass(frozen=True, slots=True)
class PresenceState:
    """One client's entry in an awareness update (y-protocols awareness)."""

    client_id: int
    clock: int
    state: str  # JSON; "null" when the client leaves


def read_awareness(update: bytes) -> list[PresenceState]:
    """The entries of an awareness update, which must fill it exactly."""
    try:
        decoder = Decoder(update)
        entries = []
        for _ in range(decoder.read_var_uint()):
            client_id, clock = decoder.read_var_uint(), decoder.read_var_uint()
            size = decoder.read_var_uint()
            if size > decoder.length:
                raise BadMessageError(f"a presence state of {size} bytes in {decoder.length}")
            state = update[decoder.i0 : decoder.i0 + size].decode()
            decoder.i0, decoder.length = decoder.i0 + size, decoder.length - size
            entries.append(PresenceState(client_id, clock, state))
    except (IndexError, ValueError, RuntimeError, UnicodeDecodeError) as exc:
        raise BadMessageError(f"malformed awareness update: {exc}") from exc
    if decoder.length:
        raise BadMessageError(f"{decoder.length} bytes after the awareness update")
    return entries


def write_awareness(entries: list[PresenceState]) -> bytes:
    """An awareness update of these entries (lengths in bytes: pycrdt's Encoder counts characters)."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        state = entry.state.encode()
        parts += [
            write_var_uint(entry.client_id),
            write_var_uint(entry.clock),
            write_var_uint(len(state)),
            state,
        ]
    return b"".join(parts)


def stored_message(count: int) -> bytes:
    """ "The first `count` updates you sent on this connection are stored" (STORED_MESSAGE_TYPE)."""
    return bytes([STORED_MESSAGE_TYPE]) + write_var_uint(count)
