"""Headers of responses that are files to save."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")


def attachment(filename: str, fallback: str = "download") -> str:
    """A Content-Disposition for any file name (RFC 6266): `filename*` carries it in UTF-8, and
    `filename` an ASCII look-alike for clients that know only that (headers are Latin-1 bytes:
    a Cyrillic, Greek or Chinese name cannot stand there as it is)."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = _UNSAFE_ASCII.sub("-", ascii_stem).strip("-.") or fallback
    ascii_name = f"{ascii_stem}.{extension}" if extension else ascii_stem
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
