"""Trying a write transaction again: a rolled-back transaction left nothing behind, so a passing
fault (a lock held too long, a connection dropped, a database restarting) costs a retry, not
the write."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter


def write_attempts() -> AsyncRetrying:
    """Four attempts within about a second and a half; the last failure is raised as it is.

    Use as `async for attempt in write_attempts(): with attempt: ...`, each attempt a whole
    transaction.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(4),
        wait=wait_exponential_jitter(multiplier=0.05, max=1, jitter=0.05),
        retry=retry_if_exception_type(Exception),
        reraise=True,
    )


def unreachable(exc: BaseException) -> bool:
    """The database failed, not the statement: a lost connection, a lock not granted in time.
    Other writes would fail alike, each after its own wait."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
