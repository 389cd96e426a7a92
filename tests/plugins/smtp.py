"""A real SMTP server (aiosmtpd) on loopback that records what arrives, and can misbehave on cue."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.server_process import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    recipient: str
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"]).strip("<>")


@dataclass
class SmtpSink:
    """What the sink received, and replies to give instead of accepting.

    `rcpt_replies` maps an address to an SMTP reply for RCPT TO (e.g. "550 5.1.1 no such user");
    a reply listed in `transient_rcpt` is given only that many times, then the address is accepted.
    """

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    transient_rcpt: dict[str, int] = field(default_factory=dict)
    mail_reply: str | None = None  # e.g. "451 4.7.1 slow down" for MAIL FROM…
    mail_reply_times: int = 1_000_000  # …this many times, then accepted
    # Offer PIPELINING (RFC 2920), as most relays do, so the sender pipelines; False: the sender's
    # command-by-command path. aiosmtpd reads pipelined commands in order whether it offers it or not.
    pipelining: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r.recipient for r in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"the sink got {len(self.received)} messages, not {count}, in {timeout} s")

    # aiosmtpd handler hooks

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when no hook replaces its reply
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        with self.lock:
            reply = self.mail_reply if self.mail_reply_times > 0 else None
            self.mail_reply_times -= 1
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        with self.lock:
            reply = self.rcpt_replies.get(address)
            if reply is not None and address in self.transient_rcpt:
                self.transient_rcpt[address] -= 1
                if self.transient_rcpt[address] < 0:
                    reply = None
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = envelope.original_content or envelope.content
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.received.append(Received(envelope.mail_from, recipient, bytes(data)))
        return "250 2.0.0 queued"


def start_sink(sink: SmtpSink) -> Controller:
    sink.port = sink.port or free_port()
    controller = Controller(sink, hostname=sink.host, port=sink.port, data_size_limit=10_000_000)
    controller.start()
    return controller


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    controller = start_sink(sink)
    try:
        yield sink
    finally:
        controller.stop()
