"""Small helpers for tests that join rooms with the desktop engine's `RoomClient.join`."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from justmaily.shared.collaboration import BODY
from justmaily.shared.document import text


def body(doc: Doc[Any]) -> str:
    """The document's body text (the shared text third-party clients edit)."""
    return str(text(doc, BODY))


def presence(name: str, colour: str = "#3366ff") -> dict[str, Any]:
    """An awareness state as stock clients make one."""
    return {"user": {"name": name, "color": colour}, "cursor": None, "status": "online"}
