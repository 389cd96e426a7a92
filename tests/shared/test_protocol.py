"""The room protocol module: what one side writes, the other reads back exactly."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text, create_awareness_message, create_sync_message, create_update_message

from justmaily.shared.collaboration import STORED_MESSAGE_TYPE
from justmaily.shared.document import protocol
from justmaily.shared.document.protocol import BadMessageError, Kind, UnknownMessageError


def a_doc(words: str) -> Doc[Any]:
    return Doc(init={"body": Text(words)})


def test_what_is_written_reads_back_as_written() -> None:
    doc = a_doc("Hello")
    update = doc.get_update()
    for raw, kind, payload in (
        (protocol.sync_step1(doc), Kind.SYNC_STEP1, doc.get_state()),
        (protocol.sync_step2(update), Kind.SYNC_STEP2, update),
        (protocol.update_message(update), Kind.SYNC_UPDATE, update),
        (protocol.awareness_message(b"\x01\x02"), Kind.AWARENESS, b"\x01\x02"),
        (protocol.QUERY_AWARENESS_MESSAGE, Kind.QUERY_AWARENESS, b""),
    ):
        message = protocol.parse(raw)
        assert (message.kind, message.payload) == (kind, payload)
    # The same bytes as pycrdt's own writers: stock clients read them.
    assert protocol.sync_step1(doc) == create_sync_message(doc)
    assert protocol.update_message(update) == create_update_message(update)
    assert protocol.awareness_message(b"\x01\x02") == create_awareness_message(b"\x01\x02")


@pytest.mark.parametrize("count", [0, 1, 127, 128, 300_000])
def test_a_stored_ack_carries_its_count(count: int) -> None:
    raw = protocol.stored_message(count)
    assert raw[0] == STORED_MESSAGE_TYPE
    message = protocol.parse(raw)
    assert (message.kind, message.count) == (Kind.STORED, count)


def test_only_the_server_sends_stored_acks() -> None:
    with pytest.raises(BadMessageError):
        protocol.parse_from_client(protocol.stored_message(3))
    assert protocol.parse_from_client(protocol.QUERY_AWARENESS_MESSAGE).kind is Kind.QUERY_AWARENESS


def test_unknown_types_are_told_apart_from_malformed_messages() -> None:
    """A client ignores message types it does not know (a newer server's), but not garbage."""
    update = protocol.update_message(a_doc("x").get_update())
    with pytest.raises(UnknownMessageError):
        protocol.parse(b"\x07\x00")
    for malformed in (
        b"",
        b"\x00",  # a sync message without its step
        b"\x00\x05\x00",  # no such step
        update[:-1],  # truncated
        update + b"\x00",  # a tail after the payload
        b"\x03\x00",  # a query with a payload
        bytes([STORED_MESSAGE_TYPE]),  # an ack without its count
        protocol.stored_message(5) + b"\x00",
    ):
        with pytest.raises(BadMessageError) as refused:
            protocol.parse(malformed)
        assert not isinstance(refused.value, UnknownMessageError), malformed
