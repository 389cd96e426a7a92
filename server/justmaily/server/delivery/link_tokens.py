"""Signed tokens in the links of sent messages: open pixel, click, unsubscribe, confirmation.

A token names one outbox message (or contact, for a confirmation) and, for clicks, the number of
a link of the approved content: a forged or edited token fails its HMAC, and a valid one can only
lead to a link the campaign contains (no open redirect). The tokens themselves never expire: a
newsletter's unsubscribe link must keep working for years (RFC 8058 asks for it). A confirmation
expires by its row (`JUSTMAILY_CONFIRMATION_LINK_TTL_SECONDS` after its e-mail went out). Logs
print none of them (`logging.redact_url_secrets`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass

_MAC_BYTES = 16
_BODY = struct.Struct(">c16sH")


class TokenKind(enum.Enum):
    OPEN = b"o"
    CLICK = b"c"
    UNSUBSCRIBE = b"u"
    CONFIRM = b"k"  # double opt-in: names a contact, not a message


class BadToken(ValueError):  # noqa: N818 - reads as what it is in handlers: `except BadToken`
    """Not a token this server issued, or one for another purpose."""


@dataclass(frozen=True)
class TokenData:
    kind: TokenKind
    subject: uuid.UUID  # the outbox message, or for CONFIRM the contact
    link: int = 0


class LinkTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the link-token key must be at least 32 bytes")
        self._key = key

    def issue(self, kind: TokenKind, subject: uuid.UUID, link: int = 0) -> str:
        body = _BODY.pack(kind.value, subject.bytes, link)
        return _b64(body + self._mac(body))

    def read(self, token: str, kind: TokenKind) -> TokenData:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise BadToken("not a token") from None
        if len(raw) != _BODY.size + _MAC_BYTES:
            raise BadToken("not a token")
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise BadToken("signature does not match")
        kind_byte, subject, link = _BODY.unpack(body)
        if kind_byte != kind.value:
            raise BadToken("token for another purpose")
        return TokenData(kind, uuid.UUID(bytes=subject), link)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
