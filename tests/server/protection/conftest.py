"""A real PKCS#11 token: SoftHSM2, initialised in a temporary folder for this test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The command line's tests' environment (a data folder of the test's own, no inherited settings).
from tests.server.test_cli import cli_env, data_dir  # noqa: F401

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "justmaily-test"
PIN = "4711-test"


@dataclass(frozen=True)
class SoftHsm:
    library: str
    token_label: str
    pin: str
    pin_file: Path

    def key_label(self) -> str:
        """A KEK label no other test uses (the token lives for the whole session)."""
        return f"kek-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """One token per session (and per pytest-xdist worker): SoftHSM2 reads its configuration once
    per process, when the library is first initialised."""
    if shutil.which("softhsm2-util") is None or not Path(SOFTHSM_LIBRARY).exists():
        pytest.fail("SoftHSM2 is not installed: run `just system-deps`")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    config = folder / "softhsm2.conf"
    config.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(config)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--pin",
            PIN,
            "--so-pin",
            "so-" + PIN,
        ],
        check=True,
        capture_output=True,
    )
    pin_file = folder / "pin"
    pin_file.write_text(PIN + "\n")
    try:
        yield SoftHsm(SOFTHSM_LIBRARY, TOKEN_LABEL, PIN, pin_file)
    finally:
        if before is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = before
