"""The room protocol, read and written in one place for both sides: y-protocols' sync and
awareness messages, the query for everyone's presence, and our "stored" ack.

Each message is one binary WebSocket frame whose first byte is its type:

- 0, then 0, 1 or 2: sync step 1 (a state vector: "what am I missing?"), step 2 (the update
  answering a step 1) or an update. Both sides send them.
- 1: an awareness update (presence). Both sides.
- 3: "send me everyone's presence", nothing after it. Clients.
- 100 (`STORED_MESSAGE_TYPE`): "the first N updates you sent on this connection are stored",
  N a var-uint. The server, to clients that ask for it (`acks=1`).

Payloads are length-prefixed and must fill their frame exactly: a truncated frame, or one with
bytes after its payload, is refused here rather than somewhere inside pycrdt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pycrdt import Decoder, Doc, YMessageType, YSyncMessageType, write_var_uint

from justmaily.shared.collaboration import STORED_MESSAGE_TYPE

QUERY_AWARENESS = 3  # y-protocols: "send me everyone's presence"
QUERY_AWARENESS_MESSAGE = bytes([QUERY_AWARENESS])


class Kind(enum.Enum):
    SYNC_STEP1 = "sync_step1"  # a state vector: "what am I missing?"
    SYNC_STEP2 = "sync_step2"  # an update answering step 1
    SYNC_UPDATE = "sync_update"  # an update
    AWARENESS = "awareness"
    QUERY_AWARENESS = "query_awareness"
    STORED = "stored"  # the server's ack: `Message.count` updates stored


class BadMessageError(ValueError):
    """Not a message of the room protocol, or a malformed one."""


class UnknownMessageError(BadMessageError):
    """A message type this protocol does not know (a client may ignore it; the server refuses it)."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    payload: bytes = b""  # the update, state vector or awareness update, without framing
    count: int = 0  # a stored ack's count

    @property
    def carries_update(self) -> bool:
        return self.kind in (Kind.SYNC_STEP2, Kind.SYNC_UPDATE)


_SYNC_KINDS = {
    YSyncMessageType.SYNC_STEP1: Kind.SYNC_STEP1,
    YSyncMessageType.SYNC_STEP2: Kind.SYNC_STEP2,
    YSyncMessageType.SYNC_UPDATE: Kind.SYNC_UPDATE,
}
_SYNC_TYPES = {kind: step for step, kind in _SYNC_KINDS.items()}


def parse(raw: bytes) -> Message:
    """One message, whoever sent it."""
    try:
        if raw and raw[0] == YMessageType.SYNC and len(raw) >= 2 and raw[1] in _SYNC_KINDS:
            return Message(_SYNC_KINDS[YSyncMessageType(raw[1])], _exact(raw[2:]))
        if raw and raw[0] == YMessageType.AWARENESS:
            return Message(Kind.AWARENESS, _exact(raw[1:]))
        if raw == QUERY_AWARENESS_MESSAGE:
            return Message(Kind.QUERY_AWARENESS)
        if raw and raw[0] == STORED_MESSAGE_TYPE:
            return Message(Kind.STORED, count=_count(raw[1:]))
    except (IndexError, ValueError, RuntimeError) as exc:  # pycrdt's decoder raises RuntimeError
        raise BadMessageError(f"malformed message: {exc}") from exc
    if raw and raw[0] not in (YMessageType.SYNC, YMessageType.AWARENESS, QUERY_AWARENESS):
        raise UnknownMessageError(f"unknown message type {raw[:2].hex()}")
    raise BadMessageError(f"unknown message type {raw[:2].hex() or '(empty)'}")


def parse_from_client(raw: bytes) -> Message:
    """A message a client may send (what the server reads): `parse`, refusing the server's own."""
    message = parse(raw)
    if message.kind is Kind.STORED:
        raise UnknownMessageError(f"unknown message type {raw[:2].hex()}")
    return message


def _exact(framed: bytes) -> bytes:
    """The length-prefixed payload, which must fill the frame exactly (no truncation, no tail)."""
    declared = Decoder(framed).read_var_uint()
    payload = framed[len(write_var_uint(declared)) :]
    if len(payload) != declared:
        raise BadMessageError(f"frame holds {len(payload)} bytes where its prefix says {declared}")
    return payload


def _count(encoded: bytes) -> int:
    count = Decoder(encoded).read_var_uint()
    if len(write_var_uint(count)) != len(encoded):
        raise BadMessageError(f"a stored ack of {len(encoded)} bytes")
    return count


# Writing ------------------------------------------------------------------------------------


def _sync(kind: Kind, payload: bytes) -> bytes:
    return bytes([YMessageType.SYNC, _SYNC_TYPES[kind]]) + write_var_uint(len(payload)) + payload


def sync_step1(doc: Doc[Any]) -> bytes:
    """ "What am I missing?": the document's state vector."""
    return _sync(Kind.SYNC_STEP1, doc.get_state())


def sync_step2(update: bytes) -> bytes:
    """The answer to a step 1: what the asker is missing, as one update."""
    return _sync(Kind.SYNC_STEP2, update)


def update_message(update: bytes) -> bytes:
    return _sync(Kind.SYNC_UPDATE, update)


def awareness_message(update: bytes) -> bytes:
    return bytes([YMessageType.AWARENESS]) + write_var_uint(len(update)) + update


def stored_message(count: int) -> bytes:
    """ "The first `count` updates you sent on this connection are stored" (STORED_MESSAGE_TYPE)."""
    return bytes([STORED_MESSAGE_TYPE]) + write_var_uint(count)


# Awareness updates --------------------------------------------------------------------------


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
