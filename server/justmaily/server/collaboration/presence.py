"""Presence (Yjs awareness) as a room relays it: a connection speaks only for its own client id,
under the name of whoever signed in.

Awareness states are plain JSON a client writes, keyed by a Yjs client id any client may name.
Relayed as they come, a viewer could replace someone else's name, colour and caret. So the
first client id a connection announces becomes its own (one another live connection of the
room already holds, or whose state carries another person's identity, is never taken), entries
for other ids are dropped, and the `user` of every state it sends is rewritten: `id` and `name`
from the signed-in principal, only the colour is the client's.

Stock y-websocket clients re-broadcast every awareness change they see, others' included: those
echoes are what gets dropped, quietly, so such clients keep working.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from justmaily.server.identity.principal import Principal
from justmaily.shared.document.protocol import BadMessageError

_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")


def identity(principal: Principal) -> dict[str, str]:
    """Who a connection's presence says it is."""
    name = principal.display_name or principal.email or f"API key {str(principal.id)[:8]}"
    return {"id": str(principal.user_id), "name": name}


def user_id_of(state: dict[str, Any] | None) -> str | None:
    """The identity a (stamped) presence state carries, if any."""
    user = state.get("user") if isinstance(state, dict) else None
    found = user.get("id") if isinstance(user, dict) else None
    return found if isinstance(found, str) else None


def stamped(state: str, principal: Principal) -> str:
    """The state JSON with its `user` as the server knows them; "null" (leaving) as it is."""
    try:
        value = msgspec.json.decode(state)
    except msgspec.DecodeError as exc:
        raise BadMessageError(f"a presence state that is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        return state
    claimed = value.get("user")
    colour = claimed.get("color") if isinstance(claimed, dict) else None
    user: dict[str, str] = identity(principal)
    if isinstance(colour, str) and _COLOUR.fullmatch(colour):
        user["color"] = colour
    value["user"] = user
    return msgspec.json.encode(value).decode()
