"""Structured logs: one JSON object per line, from our code and from the libraries alike."""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# Room tickets travel in WebSocket URLs, which uvicorn logs when it accepts a connection; the
# links in sent messages carry their tokens in the path (open, click, unsubscribe, confirm): each
# token is good forever, or until it expires, for whoever reads it in a log.
_TICKET_IN_URL = re.compile(r"(ticket=)[^&\s\"']+")
# A path starts the text, follows a space, quote or "=", or follows a URL's host.
_LINK_TOKEN_IN_PATH = re.compile(r"(^|[\s\"'=]|//[^/\s\"']+)(/(?:t/[oc]|u|c)/)[^/?#\s\"']+")


def redact_url_secrets(text: str) -> str:
    """A path, URL or log message with its link tokens and room tickets replaced by ***."""
    return _LINK_TOKEN_IN_PATH.sub(r"\1\2***", _TICKET_IN_URL.sub(r"\1***", text))


class _RedactUrlSecrets(logging.Filter):
    """For the libraries' records (uvicorn's access log, if someone turns it on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            # First: an event below the level is dropped before the others run (a room's debug
            # lines, per message, cost a time stamp and a dict each otherwise).
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactUrlSecrets())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_PROCESSORS,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # These libraries log what they run: SQLAlchemy every statement at INFO and the rows a query
    # returns at DEBUG (password hashes, personal data), aiosqlite every call with its arguments
    # at DEBUG. Statements (without their values: hide_parameters) only when we debug; values never.
    quiet = logging.INFO if logging.getLevelName(level) <= logging.DEBUG else logging.WARNING
    for name in ("aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(max(quiet, logging.getLevelName(level)))
    # Our access log replaces uvicorn's, which would log URLs (and so tokens in query strings).
    logging.getLogger("uvicorn.access").disabled = True
