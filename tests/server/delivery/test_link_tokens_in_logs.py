"""The tokens of the links in sent messages stay out of every log: ours, and uvicorn's if on."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
import structlog
from litestar import Litestar
from structlog.testing import capture_logs

from justmaily.server.delivery.link_tokens import TokenKind
from justmaily.server.logging import configure_logging
from justmaily.server.services import services_of

_LINKS = [
    (TokenKind.OPEN, "/t/o/{}"),
    (TokenKind.CLICK, "/t/c/{}"),
    (TokenKind.UNSUBSCRIBE, "/u/{}"),
    (TokenKind.CONFIRM, "/c/{}"),
    (TokenKind.CONFIRM, "/c/{}/renew"),
]


async def test_the_access_log_masks_link_tokens(app: Litestar, client: httpx.AsyncClient) -> None:
    tokens = {kind: services_of(app).link_tokens.issue(kind, uuid.uuid4()) for kind, _ in _LINKS}
    with capture_logs() as logs:
        for kind, path in _LINKS:
            method = "POST" if path.startswith(("/u/", "/c/{}/")) else "GET"
            await client.request(method, path.format(tokens[kind]))
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert [line["path"] for line in lines] == [path.format("***") for _, path in _LINKS]
    assert not any(token in repr(logs) for token in tokens.values())


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, uvicorn_access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = root.handlers[:], root.level, structlog.get_config(), uvicorn_access.disabled
    try:
        yield
    finally:
        root.handlers[:], level, config, uvicorn_access.disabled = saved
        root.setLevel(level)
        structlog.configure(**config)


@pytest.mark.usefixtures("restore_logging")
def test_uvicorns_access_log_if_turned_on_masks_them_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")  # the server's: its handler writes to this test's stderr
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.disabled = False  # as an operator's own uvicorn logging would have it
    # uvicorn's own format and arguments (h11_impl.py)
    uvicorn_access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/u/SeCrEt-ToKeN", "1.1", 200)
    uvicorn_access.info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/c/SeCrEt-ToKeN/renew", "1.1", 200
    )
    logged = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
    assert logged == [
        '127.0.0.1:5000 - "GET /u/*** HTTP/1.1" 200',
        '127.0.0.1:5000 - "POST /c/***/renew HTTP/1.1" 200',
    ]
