"""`compose`: the wire bytes parse back, with the standard library, to exactly the envelope given."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import msgspec
import pytest

from justmaily.server.delivery.transport.message import (
    Envelope,
    HeaderInjectionError,
    MessageError,
    compose,
    new_message_id,
)

DATE = datetime(2026, 11, 2, 9, 30, 15, tzinfo=timezone(timedelta(hours=1)))
TRICKY_TEXT = (
    "Grüße 👋\n"
    "From the desk of Acme\n"
    ".\n"
    ".leading dot\n"
    "trailing spaces   \n"
    "trailing tab\t\n"
    "a = sign, =3D and =?utf-8?q?not-encoded?=\n" + "x" * 2000 + "\n" + "é" * 300 + "\n\n"
    "last line without newline"
)


def envelope(**changes: Any) -> Envelope:
    base = Envelope(
        sender_name="Acme News",
        sender_address="news@acme.example",
        recipient_name="Jane Doe",
        recipient_address="jane@example.org",
        subject="Our November newsletter",
        text=TRICKY_TEXT,
        html='<!doctype html>\n<html><body><p style="color:red">Grüße 👋</p></body></html>\n',
        message_id="0123456789abcdef@acme.example",
        date=DATE,
        list_unsubscribe_url="https://acme.example/u/tok3n",
        list_unsubscribe_mailto="mailto:unsubscribe@acme.example?subject=tok3n",
        extra_headers=(("X-JustMaily-Certificate", "jm1.abc.def"), ("Feedback-ID", "c1:s2:acme:justmaily")),
    )
    return msgspec.structs.replace(base, **changes)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.iter_parts()
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    # Text on the wire has CRLF line ends; the decoded content keeps them.
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def lines(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\r\n")
    return raw[:-2].split(b"\r\n")


def test_every_header_round_trips() -> None:
    message = parse(compose(envelope()))

    assert not message.defects
    (sender,) = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Acme News", "news@acme.example")
    (recipient,) = message["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("Jane Doe", "jane@example.org")
    assert message["Subject"] == "Our November newsletter"
    assert message["Date"].datetime == DATE
    assert message["Message-ID"] == "<0123456789abcdef@acme.example>"
    assert message["MIME-Version"] == "1.0"
    assert message["List-Unsubscribe"] == (
        "<https://acme.example/u/tok3n>, <mailto:unsubscribe@acme.example?subject=tok3n>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-JustMaily-Certificate"] == "jm1.abc.def"
    assert message["Feedback-ID"] == "c1:s2:acme:justmaily"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    for part, content_type in ((text, "text/plain"), (html, "text/html")):
        assert part.get_content_type() == content_type
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert len(message.keys()) == 11  # nothing else
    assert sorted(message.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "X-JustMaily-Certificate",
            "Feedback-ID",
            "Content-Type",
        ]
    )


def test_unsubscribe_without_mailto_offers_the_url_alone() -> None:
    message = parse(compose(envelope(list_unsubscribe_mailto=None, extra_headers=())))

    assert message["List-Unsubscribe"] == "<https://acme.example/u/tok3n>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    "text",
    [
        TRICKY_TEXT,
        "",
        "From the start\nFrom again",
        "a" * 75 + "From here, wrapped onto a line of its own",
        "x\r\nwindows\r\nand\rold mac\n",
        "Grüße 👋 " * 200,
        "tabs\tand  double  spaces  \t \n",
    ],
    ids=["tricky", "empty", "from-lines", "wrapped-from", "line-endings", "long-non-ascii", "whitespace"],
)
def test_bodies_round_trip(text: str) -> None:
    html = f"<!doctype html>\n<html><body><pre>{text}</pre></body></html>"

    decoded_text, decoded_html = bodies(parse(compose(envelope(text=text, html=html))))

    def normalised(s: str) -> str:
        return s.replace("\r\n", "\n").replace("\r", "\n")

    assert decoded_text == normalised(text)
    assert decoded_html == normalised(html)


def test_wire_format_is_crlf_ascii_with_short_lines() -> None:
    raw = compose(envelope())

    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert all(len(line) <= 78 for line in lines(head + b"\r\n"))
    part_lines = lines(body)
    assert all(len(line) <= 76 for line in part_lines)
    # No body line an mbox-style relay would rewrite to ">From ".
    assert not any(line.startswith(b"From ") for line in part_lines)


@pytest.mark.parametrize("padding", range(68, 82))
def test_line_initial_from_is_escaped_without_breaking_line_limits(padding: int) -> None:
    # "From " lines of every length around the 76-character limit, with escapes near the cut.
    text = "\n".join(f"From {'x' * padding}{tail}" for tail in ("", "é", "=", "éé", " é="))

    raw = compose(envelope(text=text))
    decoded_text, _ = bodies(parse(raw))

    assert decoded_text == text
    body_lines = lines(raw.split(b"\r\n\r\n", 1)[1])
    assert all(len(line) <= 76 for line in body_lines)
    assert not any(line.startswith(b"From ") for line in body_lines)


@pytest.mark.parametrize(
    "name",
    [
        "Doe, John",
        'He said "hi"',
        "back\\slash (and comment) <angle> @at; colon: dot.",
        "Jörg Grüße 👋",
        "looks like =?utf-8?q?an_encoded_word?=",
        "A plain but rather long display name " * 4,
    ],
)
def test_display_names_round_trip(name: str) -> None:
    raw = compose(envelope(sender_name=name, recipient_name=name))
    message = parse(raw)

    assert not message.defects
    for field in ("From", "To"):
        (address,) = message[field].addresses
        assert address.display_name == name.strip()
    assert all(len(line) <= 998 for line in lines(raw))


@pytest.mark.parametrize(
    "name", ["Zoë " * 40 + "end", "Александр Сергеевич Пушкин", "山田太郎と申します、よろしく"]
)
def test_long_non_ascii_display_names_follow_rfc_2047(name: str) -> None:
    raw = compose(envelope(recipient_name=name))

    # A name longer than one encoded word (75 characters) takes several. RFC 2047 6.2: the folding
    # whitespace between adjacent encoded words is dropped when decoding; CPython's address parser
    # keeps it as a space, so the stdlib's RFC 2047 decoder is the reference here.
    header = email.message_from_bytes(raw)["To"]
    phrase, address = header.rsplit(" <", 1)
    assert str(make_header(decode_header(phrase))) == name
    assert address == "jane@example.org>"
    (recipient,) = parse(raw)["To"].addresses
    assert recipient.addr_spec == "jane@example.org"


def test_an_empty_display_name_gives_a_bare_address() -> None:
    raw = compose(envelope(recipient_name=""))

    assert b"\r\nTo: jane@example.org\r\n" in raw
    (recipient,) = parse(raw)["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("", "jane@example.org")


@pytest.mark.parametrize(
    "subject",
    [
        "Grüße 👋",
        "A long subject line that certainly goes past the seventy-eight character limit " * 4,
        "Ünïcödé subject that is long enough to need several encoded words " * 3,
        "y" * 1500,
        "=?utf-8?b?SGk=?= is not an encoded word here",
        "double  spaces  and a space at every fold point " * 5,
    ],
    ids=["non-ascii", "long-ascii", "long-non-ascii", "unbreakable", "encoded-lookalike", "spaces"],
)
def test_subjects_round_trip_and_fold(subject: str) -> None:
    raw = compose(envelope(subject=subject))

    assert parse(raw)["Subject"] == subject
    head = lines(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n")
    assert all(len(line) <= 78 and line.strip() for line in head)


def test_a_long_extra_header_is_folded() -> None:
    token = "jm1." + "A" * 2000
    raw = compose(envelope(extra_headers=(("X-JustMaily-Certificate", token),)))

    assert parse(raw)["X-JustMaily-Certificate"] == token
    assert all(len(line) <= 998 for line in lines(raw))


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hello\r\nBcc: victim@example.org"},
        {"subject": "Hello\nBcc: victim@example.org"},
        {"subject": "Hello\rBcc: victim@example.org"},
        {"subject": "nul\x00byte"},
        {"recipient_name": "Jane\r\nBcc: victim@example.org"},
        {"sender_name": "Acme\n"},
        {"recipient_address": "jane@example.org\r\nBcc: victim@example.org"},
        {"message_id": "abc@acme.example\r\nBcc: victim@example.org"},
        {"list_unsubscribe_url": "https://acme.example/u\r\nBcc: victim@example.org"},
        {"list_unsubscribe_mailto": "mailto:u@acme.example\nBcc: victim@example.org"},
        {"extra_headers": (("X-JustMaily-Certificate", "abc\r\nBcc: victim@example.org"),)},
        {"extra_headers": (("X-Evil\r\nBcc", "victim@example.org"),)},
        {"extra_headers": (("X-Colon:", "value"),)},
    ],
)
def test_header_injection_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(HeaderInjectionError):
        compose(envelope(**changes))
    assert issubclass(HeaderInjectionError, ValueError)


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"date": datetime(2026, 11, 2, 9, 30)}, "timezone-aware"),  # naive on purpose
        ({"list_unsubscribe_url": "http://acme.example/u"}, "https://"),
        ({"list_unsubscribe_url": "https://acme.example/a b"}, "https://"),
        ({"list_unsubscribe_mailto": "https://acme.example/u"}, "mailto:"),
        ({"recipient_address": "jörg@example.org"}, "ASCII"),
        ({"recipient_address": "not-an-address"}, "ASCII"),
        ({"sender_address": "Acme <news@acme.example>"}, "ASCII"),
        ({"message_id": "<abc@acme.example>"}, "local@domain"),
        ({"extra_headers": (("Subject", "a second subject"),)}, "written by compose"),
        ({"extra_headers": (("content-type", "text/plain"),)}, "written by compose"),
    ],
)
def test_invalid_envelopes_are_refused(changes: dict[str, Any], complaint: str) -> None:
    with pytest.raises(MessageError, match=re.escape(complaint)):
        compose(envelope(**changes))


def test_message_ids_are_unique_and_well_formed() -> None:
    ids = {new_message_id("acme.example") for _ in range(1000)}

    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}@acme\.example", i) for i in ids)
    message_id = new_message_id("acme.example")
    assert parse(compose(envelope(message_id=message_id)))["Message-ID"] == f"<{message_id}>"


def test_boundaries_follow_the_message_id_and_are_absent_from_the_bodies() -> None:
    again = [compose(envelope(message_id="a1@acme.example")) for _ in range(2)]
    first, second = parse(again[0]), parse(compose(envelope(message_id="b2@acme.example")))

    # A message sent again (in doubt after a crash) has the same body: either copy proves its leaf.
    assert again[0] == again[1]
    boundary = first.get_boundary()
    assert boundary is not None
    assert boundary != second.get_boundary()
    # Quoted-printable never writes "=_", which every boundary starts with.
    text = "=_ =5F " + boundary
    raw = compose(envelope(text=text, html=text))
    assert bodies(parse(raw)) == (text, text)


def test_date_is_written_with_its_offset() -> None:
    raw = compose(envelope(date=datetime(2026, 1, 5, 8, 0, tzinfo=UTC)))

    assert b"\r\nDate: Mon, 05 Jan 2026 08:00:00 +0000\r\n" in raw
