"""`justmaily serve` started with a broken operator file: it must stop before listening."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def refused_start(tmp_path: Path, **env: str) -> str:
    """What `justmaily serve` printed on standard error; it must have failed."""
    result = subprocess.run(
        [sys.executable, "-m", "justmaily.server.cli", "serve", "--port", "1"],
        env={"JUSTMAILY_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr
