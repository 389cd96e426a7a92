"""One SMTP transaction through aiosmtplib, and what its outcome means for the message.

The transaction is split so the caller can record "handed to the relay" durably between the
envelope (MAIL FROM, RCPT TO) and DATA: only a crash after that point leaves doubt whether the
relay has the message (docs/delivery.md, "Exactly once").
"""

from __future__ import annotations

import enum
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosmtplib

from justmaily.server.delivery.relays import RelayConfig

# Replies by which relays ask senders to slow down (RFC 5321 421; 451/454 as Gmail, SES and
# Microsoft use them for rate limits).
THROTTLE_CODES = frozenset({421, 451, 454})


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

    async def transaction(
        self, sender: str, recipient: str, message: bytes, before_data: Callable[[], Awaitable[bool]]
    ) -> Result:
        try:
            smtp = await self._connected()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            return Result(Outcome.RELAY_FAILED, f"cannot connect to {self.relay.url}: {_describe(exc)}")
        refused = await self._envelope(smtp, sender, recipient)
        if refused is not None:
            return refused
        if not await before_data():
            return await self._withdraw(smtp)
        try:
            response = await smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after(exc)
            return _refused(exc, stage="DATA")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            return Result(Outcome.IN_DOUBT, f"connection lost during DATA: {_describe(exc)}")
        return Result(Outcome.SENT, f"{response.code} {response.message}"[:500])

    async def _envelope(self, smtp: aiosmtplib.SMTP, sender: str, recipient: str) -> Result | None:
        """MAIL FROM and RCPT TO; a Result if the relay refused or went away, else None."""
        try:
            await smtp.mail(sender)
            await smtp.rcpt(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_after(exc)
            return _refused(exc, stage="MAIL" if isinstance(exc, aiosmtplib.SMTPSenderRefused) else "RCPT")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            return Result(Outcome.RELAY_FAILED, f"{self.relay.url} dropped the connection: {_describe(exc)}")
        return None

    async def _withdraw(self, smtp: aiosmtplib.SMTP) -> Result:
        """End the transaction without DATA: the message must not go out after all."""
        try:
            await smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self.close()
        return Result(Outcome.WITHDRAWN, "cancelled before it was sent")

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit(timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        relay = self.relay
        smtp = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            timeout=self._timeout,
            use_tls=relay.implicit_tls,
            start_tls=None,  # STARTTLS when the relay offers it
            tls_context=self._tls_context,
            username=relay.username or None,
            password=relay.password or None,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def _reset_after(self, exc: aiosmtplib.SMTPResponseException) -> None:
        # After a refusal the transaction must be reset before the next; 421 closes the session.
        if exc.code == 421 or self._smtp is None:
            await self.close()
            return
        try:
            await self._smtp.rset()
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


def _describe(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
