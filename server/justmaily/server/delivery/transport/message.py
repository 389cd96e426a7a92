"""Compose one recipient's message as wire bytes (CRLF, MIME multipart/alternative), fast.

This sits on the sender's hot path, so the MIME is written by hand instead of through
`email.message.EmailMessage`, which costs an order of magnitude more per message. Bodies go through
the C encoder `binascii.b2a_qp`; headers are folded here. Any CR, LF or other control character in a
header value raises `HeaderInjectionError` rather than reaching the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from datetime import datetime
from email.utils import format_datetime

import msgspec

_FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters...
_MAX_LINE = 998  # ...and MUST be at most 998.
_QP_LINE = 76  # RFC 2045 6.7: encoded lines are at most 76 characters.
# 39 UTF-8 bytes make 52 base64 characters: a 64-character encoded word, within RFC 2047's 75, and
# "Subject: " plus one word stays within 78.
_WORD_BYTES = 39

# Any control character but TAB: CR and LF would start a new header; the rest have no business in one.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')  # RFC 5322 specials: the display name needs quoting
_QUOTED_PAIR = re.compile(r'([\\"])')
# Deliberately narrower than RFC 5321: no quoted local parts, and ASCII only (the caller normalises the
# domain to IDNA; non-ASCII local parts need SMTPUTF8, which we do not use).
_ADDRESS = re.compile(r"[^\s\"(),:;<>@\[\\\]]+@[^\s\"(),:;<>@\[\\\]]+")
_MESSAGE_ID = re.compile(r"[^\s<>@]+@[^\s<>@]+")
_URL = re.compile(r"[!-~]+")  # one printable ASCII token: no spaces, already percent-encoded
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 2.2: printable ASCII except ":"
# Headers compose() writes itself; an extra header with one of these names would duplicate it.
_OWN_FIELDS = frozenset(
    {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "dkim-signature",
    }
)

_LOOPBACK_URL = re.compile(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/")


class MessageError(ValueError):
    """The envelope cannot be written as a valid message."""


class HeaderInjectionError(MessageError):
    """A header value holds CR, LF or another control character, which could forge extra headers."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that differs between two messages of a send.

    Addresses are ASCII (domain already IDNA-encoded); display names may be any Unicode.
    `message_id` has no angle brackets: `<local>@<domain>`, as `new_message_id` makes it.
    """

    sender_name: str
    sender_address: str
    recipient_name: str
    recipient_address: str
    subject: str
    text: str  # text/plain alternative
    html: str  # text/html alternative: a whole document
    message_id: str
    date: datetime  # timezone-aware
    # https URL accepting the RFC 8058 one-click POST; None for a message that is not a
    # mailing (a double opt-in request: there is nothing to unsubscribe from yet).
    list_unsubscribe_url: str | None
    list_unsubscribe_mailto: str | None = None  # "mailto:..." URL, offered as well when set
    extra_headers: tuple[tuple[str, str], ...] = ()  # e.g. ("Feedback-ID", "..."), ASCII names


def new_message_id(domain: str) -> str:
    """A fresh Message-ID (without angle brackets) in the sending domain: `<uuid4 hex>@<domain>`."""
    return f"{uuid.uuid4().hex}@{domain}"


def compose(envelope: Envelope) -> bytes:
    """The message as it goes over SMTP (before DKIM signing and dot-stuffing)."""
    e = envelope
    if e.date.tzinfo is None or e.date.utcoffset() is None:
        raise MessageError("date must be timezone-aware")
    # RFC 8058 wants https; plain http is accepted only for loopback (trying things out locally),
    # which the settings enforce for the public URL the links are made from.
    unsubscribe_headers = []
    if e.list_unsubscribe_url is not None:
        scheme = "http://" if _LOOPBACK_URL.match(e.list_unsubscribe_url) else "https://"
        unsubscribe = f"<{_url(e.list_unsubscribe_url, scheme, 'list_unsubscribe_url')}>"
        if e.list_unsubscribe_mailto is not None:
            unsubscribe += f", <{_url(e.list_unsubscribe_mailto, 'mailto:', 'list_unsubscribe_mailto')}>"
        unsubscribe_headers = [
            _fold("List-Unsubscribe", unsubscribe, structured=True),
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
    _check(e.message_id, "message_id")
    if not (e.message_id.isascii() and _MESSAGE_ID.fullmatch(e.message_id)):
        raise MessageError(f"message_id is not of the form local@domain: {e.message_id!r}")
    # "=_" can never occur in quoted-printable output ("=" is always followed by hex or a line break),
    # so the boundary cannot collide with either body whatever it contains. It follows from the
    # Message-ID: a message sent again (in doubt after a crash) has the same body, so either copy
    # a recipient keeps proves the same leaf of its send's batch (docs/trust.md).
    boundary = f"=_{hashlib.sha256(e.message_id.encode('ascii')).hexdigest()[:32]}"
    lines = [
        _fold("From", _mailbox(e.sender_name, e.sender_address, "sender"), structured=True),
        _fold("To", _mailbox(e.recipient_name, e.recipient_address, "recipient"), structured=True),
        _fold("Subject", _unstructured(e.subject, "subject")),
        "Date: " + format_datetime(e.date),
        f"Message-ID: <{e.message_id}>",
        "MIME-Version: 1.0",
        *unsubscribe_headers,
    ]
    for name, value in e.extra_headers:
        if not (name.isascii() and _FIELD_NAME.fullmatch(name)):
            raise HeaderInjectionError(f"invalid header name: {name!r}")
        if name.lower() in _OWN_FIELDS:
            raise MessageError(f"{name} is written by compose() and cannot be an extra header")
        lines.append(_fold(name, _unstructured(value, name)))
    head = "\r\n".join(lines)
    return b"".join(
        (
            head.encode("ascii"),
            f'\r\nContent-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'.encode("ascii"),
            _part(boundary, "text/plain", e.text),
            _part(boundary, "text/html", e.html),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )


def _part(boundary: str, content_type: str, content: str) -> bytes:
    head = (
        f"--{boundary}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    # The CRLF before the next boundary belongs to the delimiter, not to the content (RFC 2046 5.1.1).
    return head.encode("ascii") + _quoted_printable(content) + b"\r\n"


def _quoted_printable(text: str) -> bytes:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # b2a_qp keeps the input's line endings (LF here), encodes trailing whitespace, "=", a lone "."
    # and non-ASCII, and soft-breaks lines at 76 characters.
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    if encoded.startswith(b"From ") or b"\nFrom " in encoded:
        encoded = _escape_from_lines(encoded)
    return encoded.replace(b"\n", b"\r\n")


def _escape_from_lines(encoded: bytes) -> bytes:
    """Write a line-initial "From " as "=46rom ", so no mbox-style relay rewrites it to ">From "
    (which would change the text and break the DKIM body hash)."""
    out: list[bytes] = []
    for line in encoded.split(b"\n"):
        if not line.startswith(b"From "):
            out.append(line)
            continue
        escaped = b"=46" + line[1:]
        if len(escaped) > _QP_LINE:
            # Two characters longer now: move the tail to a soft-broken line of its own,
            # cutting before any "=XY" escape that would otherwise be split.
            cut = _QP_LINE - 1
            if escaped[cut - 1 : cut] == b"=":
                cut -= 1
            elif escaped[cut - 2 : cut - 1] == b"=":
                cut -= 2
            out.append(escaped[:cut] + b"=")
            escaped = escaped[cut:]
        out.append(escaped)
    return b"\n".join(out)


def _check(value: str, field: str) -> None:
    if _CONTROL.search(value):
        raise HeaderInjectionError(f"{field} contains a line break or control character: {value!r}")


def _url(url: str, scheme: str, field: str) -> str:
    _check(url, field)
    if not url.startswith(scheme) or not url.isascii() or not _URL.fullmatch(url) or ">" in url:
        raise MessageError(f"{field} must be a {scheme} URL in printable ASCII without spaces: {url!r}")
    return url


def _mailbox(name: str, address: str, field: str) -> str:
    _check(address, f"{field} address")
    if not (address.isascii() and _ADDRESS.fullmatch(address)):
        raise MessageError(f"{field} address is not an ASCII addr-spec: {address!r}")
    _check(name, f"{field} name")
    if not name:
        return address
    if not name.isascii() or "=?" in name:
        phrase = _encoded_words(name)
    elif _SPECIALS.search(name):
        phrase = '"' + _QUOTED_PAIR.sub(r"\\\1", name) + '"'
    else:
        phrase = name
    return f"{phrase} <{address}>"


def _unstructured(value: str, field: str) -> str:
    _check(value, field)
    # Text that merely looks like an encoded word would be decoded by readers, so it is encoded too.
    if not value.isascii() or "=?" in value:
        return _encoded_words(value)
    return value


def _encoded_words(text: str) -> str:
    """RFC 2047 B-encoded words, space-separated so `_fold` can break between them (a reader drops the
    whitespace between adjacent encoded words). Each word holds whole UTF-8 characters."""
    raw = text.encode("utf-8")
    words = []
    start = 0
    while start < len(raw):
        end = min(start + _WORD_BYTES, len(raw))
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # don't split a multi-byte character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(raw[start:end]).decode('ascii')}?=")
        start = end
    return " ".join(words)


def _fold(name: str, value: str, *, structured: bool = False) -> str:
    """`name: value`, folded before spaces so lines stay within 78 characters where the value allows.

    Folding only inserts CRLF before existing whitespace, so unfolding gives back the exact value.
    An unstructured value with a word too long for one line is sent as encoded words instead.
    """
    line = f"{name}: {value}"
    if len(line) <= _FOLD_AT:
        return line
    lines: list[str] = []
    current = f"{name}:"
    for i, word in enumerate(value.split(" ")):
        piece = " " + word
        # Never break before the first word, nor where a line would hold only whitespace.
        if i and word and len(current) + len(piece) > _FOLD_AT:
            lines.append(current)
            current = piece
        else:
            current += piece
    lines.append(current)
    if any(len(folded) > _MAX_LINE for folded in lines):
        if structured or value.startswith("=?"):
            raise MessageError(f"{name} has a word too long for a header line ({_MAX_LINE} characters)")
        return _fold(name, _encoded_words(value))
    return "\r\n".join(lines)
