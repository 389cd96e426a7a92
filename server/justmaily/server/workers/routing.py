"""Which worker owns a connection, from its first request line alone (peeked, not read)."""

from __future__ import annotations

import re
import uuid
import zlib

_ROOM = re.compile(rb"^GET /api/campaigns/([0-9a-fA-F-]{36})/room[ ?]")


def room_owner(campaign_id: uuid.UUID, workers: int) -> int:
    """The worker that holds this campaign's room: stable for a given number of workers."""
    return zlib.crc32(campaign_id.bytes) % workers


def owner_of(request_line: bytes, workers: int) -> int | None:
    """The owner of a room's WebSocket upgrade; None for anything else (served where it lands)."""
    found = _ROOM.match(request_line)
    if found is None:
        return None
    try:
        campaign_id = uuid.UUID(found.group(1).decode("ascii"))
    except ValueError:
        return None  # not a campaign id: whoever serves it answers 404
    return room_owner(campaign_id, workers)
