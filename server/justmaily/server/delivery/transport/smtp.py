"""One SMTP transaction, and what its outcome means for the message.

aiosmtplib opens the connection (TLS, EHLO, AUTH). A relay that offers PIPELINING then gets the
envelope and DATA in one write (`pipelining.py`); others get aiosmtplib's command-by-command
transaction. Either way the caller records "handed to the relay" durably before the content goes
out: only a crash after that point leaves doubt whether the relay has the message
(docs/delivery.md, "Exactly once").
"""

from __future__ import annotations

import asyncio
import enum
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosmtplib

from justmaily.server.delivery.transport.pipelining import Pipeline
from justmaily.server.delivery.transport.relay_addresses import InternalAddressError, connect_checked
from justmaily.server.settings.relay_urls import RelayConfig

# Replies by which relays ask senders to slow down (RFC 5321 421; 451/454 as Gmail, SES and
# Microsoft use them for rate limits).
THROTTLE_CODES = frozenset({421, 451, 454})
_LONE_CR_OR_LF = re.compile(rb"\r\n|\r|\n")
_NOT_IN_ADDRESS = re.compile(r"[\x00-\x20<>\x7f]")


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"  # a transient refusal of this message: try again later
    THROTTLED = "throttled"  # the relay asks us to slow down: retry later, and slower
    PERMANENT = "permanent"  # the address or message is refused for good: suppress
    RELAY_FAILED = "relay_failed"  # the relay did not work (connect, TLS, auth, sender refused)
    IN_DOUBT = "in_doubt"  # the connection broke after DATA: the relay may have the message
    WITHDRAWN = "withdrawn"  # not sent: the outbox refused the hand-off (the send was cancelled)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""


class RelayConnection:
    """A reusable connection to one relay (reconnects on demand)."""

    def __init__(self, relay: RelayConfig, *, timeout: float, tls_context: ssl.SSLContext | None) -> None:
        self.relay = relay
        self._timeout = timeout
        self._tls_context = tls_context
        self._smtp: aiosmtplib.SMTP | None = None
        self._pipeline: Pipeline | None = None

    async def transaction(
        self, sender: str, recipient: str, message: bytes, before_data: Callable[[], Awaitable[bool]]
    ) -> Result:
        try:
            link = await self._connected()
        except (aiosmtplib.SMTPException, OSError, TimeoutError, InternalAddressError) as exc:
            await self.close()
            return Result(Outcome.RELAY_FAILED, f"cannot connect to {self.relay.url}: {_describe(exc)}")
        if isinstance(link, Pipeline):
            refused = await self._pipelined_envelope(link, sender, recipient)
        else:
            refused = await self._envelope(link, sender, recipient)
        if refused is not None:
            return refused
        try:
            handed_off = await before_data()
        except BaseException:
            self._drop()  # mid-transaction (mid-DATA when pipelined): this session cannot go on
            raise
        if not handed_off:
            return await self._withdraw(link)
        if isinstance(link, Pipeline):
            return await self._pipelined_content(link, message)
        return await self._data(link, message)

    async def _data(self, smtp: aiosmtplib.SMTP, message: bytes) -> Result:
        """DATA and the content, command by command (a relay without PIPELINING)."""
        try:
            response = await smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after(exc.code)
            return _refused(exc, stage="DATA")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            return Result(Outcome.IN_DOUBT, f"connection lost during DATA: {_describe(exc)}")
        return Result(Outcome.SENT, f"{response.code} {response.message}"[:500])

    async def _pipelined_content(self, pipeline: Pipeline, message: bytes) -> Result:
        """The content, after the relay's 354 to the pipelined DATA."""
        try:
            pipeline.write(_dot_stuffed(message))
            (reply,) = await pipeline.replies(1)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return Result(Outcome.IN_DOUBT, f"connection lost during DATA: {_describe(exc)}")
        if reply.code != 250:
            if reply.code == 421:
                await self.close()
            return _refused(aiosmtplib.SMTPResponseException(reply.code, reply.message), stage="DATA")
        return Result(Outcome.SENT, f"{reply.code} {reply.message}"[:500])

    async def _pipelined_envelope(self, pipeline: Pipeline, sender: str, recipient: str) -> Result | None:
        """MAIL FROM, RCPT TO and DATA in one write; a Result if the relay refused or went away,
        else None (the relay waits for the content)."""
        if _NOT_IN_ADDRESS.search(sender) or _NOT_IN_ADDRESS.search(recipient):
            return Result(Outcome.PERMANENT, f"not an address SMTP can carry: {sender!r} → {recipient!r}")
        commands = b"MAIL FROM:<%b>\r\nRCPT TO:<%b>\r\nDATA\r\n" % (sender.encode(), recipient.encode())
        try:
            pipeline.write(commands)
            mail, rcpt, data = await pipeline.replies(3)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return Result(Outcome.RELAY_FAILED, f"{self.relay.url} dropped the connection: {_describe(exc)}")
        expected = ((mail, "MAIL", (250,)), (rcpt, "RCPT", (250, 251)), (data, "DATA", (354,)))
        for reply, stage, good in expected:
            if reply.code not in good:
                if data.code == 354:  # content wanted for a refused envelope: only dropping ends it
                    self._drop()
                else:
                    await self._reset_after(reply.code)
                return _refused(aiosmtplib.SMTPResponseException(reply.code, reply.message), stage=stage)
        return None

    async def _envelope(self, smtp: aiosmtplib.SMTP, sender: str, recipient: str) -> Result | None:
        """MAIL FROM and RCPT TO; a Result if the relay refused or went away, else None."""
        try:
            await smtp.mail(sender)
            await smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after(exc.code)
            return _refused(exc, stage="MAIL" if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "RCPT")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            return Result(Outcome.RELAY_FAILED, f"{self.relay.url} dropped the connection: {_describe(exc)}")
        return None

    async def _withdraw(self, link: aiosmtplib.SMTP | Pipeline) -> Result:
        """End the transaction without the content: the message must not go out after all."""
        if isinstance(link, Pipeline):
            self._drop()  # in the middle of DATA, dropping the connection is the only way back
        else:
            try:
                await link.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await self.close()
        return Result(Outcome.WITHDRAWN, "cancelled before it was sent")

    async def close(self) -> None:
        """End the session politely (QUIT), between transactions."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit(timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None and pipeline.is_connected:
            try:
                pipeline.write(b"QUIT\r\n")
                async with asyncio.timeout(2):  # as for aiosmtplib's quit above: stopping waits
                    await pipeline.replies(1)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
            pipeline.close()

    def _drop(self) -> None:
        """End the session at once, without QUIT (mid-transaction, or when it is broken)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.abort()

    async def _connected(self) -> aiosmtplib.SMTP | Pipeline:
        if self._pipeline is not None and self._pipeline.is_connected:
            return self._pipeline
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        self._pipeline = None
        relay = self.relay
        # Connected here, to an address checked first (relay_addresses.py); the name still goes
        # to TLS (SNI, the certificate's name).
        async with asyncio.timeout(self._timeout):
            sock = await connect_checked(relay.host, relay.port, internal_allowed=relay.internal_allowed)
        smtp = aiosmtplib.SMTP(
            hostname=relay.host,
            sock=sock,
            timeout=self._timeout,
            use_tls=relay.implicit_tls,
            start_tls=None,  # STARTTLS when the relay offers it
            tls_context=self._tls_context,
            username=relay.username or None,
            password=relay.password or None,
        )
        try:
            await smtp.connect()
        except BaseException:
            sock.close()
            raise
        if smtp.is_ehlo_or_helo_needed:  # neither TLS nor AUTH needed it: its extensions are unknown
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                await smtp.helo()
        if smtp.supports_extension("pipelining"):
            self._pipeline = Pipeline.take_over(smtp, self._timeout)
            return self._pipeline
        self._smtp = smtp
        return smtp

    async def _reset_after(self, code: int) -> None:
        """After a refusal the transaction must be reset before the next; 421 closes the session."""
        pipeline, smtp = self._pipeline, self._smtp
        if code == 421:
            await self.close()
        elif pipeline is not None:
            try:
                pipeline.write(b"RSET\r\n")
                await pipeline.replies(1)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                self._drop()
        elif smtp is not None:
            try:
                await smtp.rset()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await self.close()


def _refused(exc: aiosmtplib.SMTPResponseException, *, stage: str) -> Result:
    detail = f"{stage} refused: {exc.code} {exc.message}"[:500]
    if exc.code in THROTTLE_CODES:
        return Result(Outcome.THROTTLED, detail)
    if stage == "MAIL":
        # The relay refuses our sender: every message would fail the same way.
        return Result(Outcome.RELAY_FAILED, detail)
    if 500 <= exc.code < 600:
        return Result(Outcome.PERMANENT, detail)
    return Result(Outcome.RETRY, detail)


def _dot_stuffed(message: bytes) -> bytes:
    """The content as DATA carries it (RFC 5321 4.5.2): CRLF line endings, a leading "." doubled,
    and the final ".". As aiosmtplib's `data()` does, for the pipelined path."""
    if message.count(b"\n") != message.count(b"\r\n") or message.count(b"\r") != message.count(b"\r\n"):
        message = _LONE_CR_OR_LF.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


def _describe(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
