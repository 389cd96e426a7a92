"""One SMTP transaction against a real relay (aiosmtpd on loopback), pipelined or command by
command, with every outcome the sender acts on."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from justmaily.server.delivery.transport.pipelining import Pipeline
from justmaily.server.delivery.transport.smtp import Outcome, RelayConnection, _dot_stuffed
from justmaily.server.settings.relay_urls import parse_relay_url
from tests.plugins.smtp import SmtpSink, start_sink
from tests.support.server_process import free_port

SENDER = "news@acme.example"
MESSAGE = b"From: news@acme.example\r\nTo: ada@example.com\r\nSubject: Hi\r\n\r\nHello\r\n.a dot\r\n"


class DropsDuringData(SmtpSink):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        server.transport.abort()  # the relay goes away once it has the content: did it keep it?
        return "250 never seen"


@pytest.fixture(params=[True, False], ids=["pipelined", "one-by-one"])
def relay(request: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    sink = SmtpSink(pipelining=request.param)
    controller = start_sink(sink)
    try:
        yield sink
    finally:
        controller.stop()


def connection_to(sink: SmtpSink) -> RelayConnection:
    return RelayConnection(
        parse_relay_url(sink.url, name="test", priority=0, internal_allowed=True), timeout=5, tls_context=None
    )


async def handed_off() -> bool:
    return True


async def test_messages_go_out_on_one_connection_content_intact(relay: SmtpSink) -> None:
    connection = connection_to(relay)
    try:
        for name in ("ada", "bob"):
            result = await connection.transaction(SENDER, f"{name}@example.com", MESSAGE, handed_off)
            assert (result.outcome, result.detail) == (Outcome.SENT, "250 2.0.0 queued")
        assert isinstance(connection._pipeline, Pipeline) is relay.pipelining
    finally:
        await connection.close()
    assert [r.recipient for r in relay.received] == ["ada@example.com", "bob@example.com"]
    assert all(r.data == MESSAGE for r in relay.received)  # dot-stuffed on the way, unstuffed there


async def test_refusals_say_what_the_sender_must_do_and_the_connection_goes_on(relay: SmtpSink) -> None:
    relay.rcpt_replies = {
        "gone@example.com": "550 5.1.1 no such user",
        "full@example.com": "452 4.2.2 mailbox full",
        "slow@example.com": "451 4.7.1 slow down",
    }
    connection = connection_to(relay)
    try:
        outcomes = {
            name: await connection.transaction(SENDER, f"{name}@example.com", MESSAGE, handed_off)
            for name in ("gone", "full", "slow", "ok")
        }
        relay.mail_reply = "550 5.7.1 sender refused"
        refused_sender = await connection.transaction(SENDER, "x@example.com", MESSAGE, handed_off)
    finally:
        await connection.close()
    assert {name: result.outcome for name, result in outcomes.items()} == {
        "gone": Outcome.PERMANENT,
        "full": Outcome.RETRY,
        "slow": Outcome.THROTTLED,
        "ok": Outcome.SENT,
    }
    assert outcomes["gone"].detail == "RCPT refused: 550 5.1.1 no such user"
    assert refused_sender.outcome is Outcome.RELAY_FAILED  # every message would fail the same way
    assert relay.recipients() == ["ok@example.com"]


async def test_a_message_withdrawn_at_the_hand_off_never_reaches_the_relay(relay: SmtpSink) -> None:
    async def cancelled() -> bool:
        return False

    connection = connection_to(relay)
    try:
        withdrawn = await connection.transaction(SENDER, "ada@example.com", MESSAGE, cancelled)
        after = await connection.transaction(SENDER, "bob@example.com", MESSAGE, handed_off)
    finally:
        await connection.close()
    assert withdrawn.outcome is Outcome.WITHDRAWN
    assert after.outcome is Outcome.SENT  # on a new connection if the old one had to be dropped
    assert relay.recipients() == ["bob@example.com"]


async def test_a_failing_hand_off_leaves_no_half_message_behind(relay: SmtpSink) -> None:
    async def outbox_broken() -> bool:
        raise RuntimeError("the outbox could not be written")

    connection = connection_to(relay)
    try:
        with pytest.raises(RuntimeError):
            await connection.transaction(SENDER, "ada@example.com", MESSAGE, outbox_broken)
        after = await connection.transaction(SENDER, "bob@example.com", MESSAGE, handed_off)
    finally:
        await connection.close()
    assert after.outcome is Outcome.SENT
    assert relay.recipients() == ["bob@example.com"]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
async def test_a_relay_lost_during_data_leaves_the_message_in_doubt(pipelining: bool) -> None:
    sink = DropsDuringData(pipelining=pipelining)
    controller = start_sink(sink)
    connection = connection_to(sink)
    try:
        result = await connection.transaction(SENDER, "ada@example.com", MESSAGE, handed_off)
    finally:
        await connection.close()
        controller.stop()
    assert result.outcome is Outcome.IN_DOUBT, result


@pytest.fixture
def tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A relay's server context with a self-signed certificate for 127.0.0.1, and a client
    context that trusts it (and nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server, ssl.create_default_context(cadata=cert_pem.decode())


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
async def test_pipelining_goes_on_inside_tls(
    implicit: bool, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_context, client_context = tls_contexts
    sink = SmtpSink(port=free_port())
    if implicit:
        controller = Controller(sink, hostname=sink.host, port=sink.port, ssl_context=server_context)
    else:
        controller = Controller(
            sink, hostname=sink.host, port=sink.port, tls_context=server_context, require_starttls=True
        )
    controller.start()
    url = f"{'smtps' if implicit else 'smtp'}://{sink.host}:{sink.port}"
    connection = RelayConnection(
        parse_relay_url(url, name="tls", priority=0, internal_allowed=True),
        timeout=5,
        tls_context=client_context,
    )
    try:
        for name in ("ada", "bob"):
            result = await connection.transaction(SENDER, f"{name}@example.com", MESSAGE, handed_off)
            assert result.outcome is Outcome.SENT, result
        assert connection._pipeline is not None
        assert connection._pipeline._transport.get_extra_info("ssl_object") is not None
    finally:
        await connection.close()
        controller.stop()
    assert sink.recipients() == ["ada@example.com", "bob@example.com"]


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


async def test_replies_are_read_however_the_bytes_arrive() -> None:
    pipeline = Pipeline(_Transport(), timeout=1)
    for chunk in (b"250 OK\r\n250-first\r", b"\n250-second\r\n250 last\r\n35", b"4 go ahead\r\n"):
        pipeline.data_received(chunk)
    replies = await pipeline.replies(3)
    assert [(r.code, r.message) for r in replies] == [
        (250, "OK"),
        (250, "first\nsecond\nlast"),
        (354, "go ahead"),
    ]
    with pytest.raises(TimeoutError):
        await pipeline.replies(1)  # nothing more came


@pytest.mark.parametrize(
    "garbage", [b"hello there\r\n", b"250-" + b"x" * 9000 + b"\r\n", b"250-more\r\n" * 4000]
)
async def test_a_garbled_reply_ends_the_session(garbage: bytes) -> None:
    transport = _Transport()
    pipeline = Pipeline(transport, timeout=1)
    pipeline.data_received(garbage)
    with pytest.raises(Exception, match="reply"):
        await pipeline.replies(1)
    assert transport.aborted
    assert not pipeline.is_connected


def test_content_is_dot_stuffed_with_crlf_endings() -> None:
    assert _dot_stuffed(b".first\r\nmid\r\n.\r\n..two") == b"..first\r\nmid\r\n..\r\n...two\r\n.\r\n"
    assert _dot_stuffed(b"bare\nlf\rcr\r\n") == b"bare\r\nlf\r\ncr\r\n.\r\n"
