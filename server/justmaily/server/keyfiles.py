"""Secret key files in the data folder: created once, mode 0600, never overwritten."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    """The file's bytes, creating it from `generate()` when it does not exist yet.

    The key is written to a temporary file and linked into place, so another process starting
    at the same moment sees either no file or the whole key, and the first one wins.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(generate())
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            Path(temporary).unlink(missing_ok=True)
    return path.read_bytes()
