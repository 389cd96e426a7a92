"""The PostgreSQL server for the suite: JUSTMAILY_TEST_POSTGRES_URL, or a throw-away cluster."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import pgcluster


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A superuser URL. Started on first use, so SQLite-only runs never need PostgreSQL."""
    if url := os.environ.get("JUSTMAILY_TEST_POSTGRES_URL"):
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="justmaily-pg-"))
    try:
        yield pgcluster.start(root)
    finally:
        pgcluster.stop(root)
