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


# Room tickets travel in WebSocket URLs, which uvicorn logs when it accepts a connection.
_TICKET_IN_URL = re.compile(r"(ticket=)[^&\s\"']+")


class _RedactTickets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "ticket=" in message:
            record.msg, record.args = _TICKET_IN_URL.sub(r"\1***", message), ()
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactTickets())
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
    # Below INFO these libraries log values: aiosqlite every call with its arguments (statement
    # parameters), SQLAlchemy the rows a query returns (password hashes, personal data).
    for name in ("aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # Our access log replaces uvicorn's, which would log URLs (and so tokens in query strings).
    logging.getLogger("uvicorn.access").disabled = True
