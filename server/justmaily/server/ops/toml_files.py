"""The operator's TOML files (the SLOs, the retention policies): read, decoded into their
Structs, and every error given with the line the operator wrote (the n-th `[[table]]` of an
array of tables, and a key within it). Each file's own checks come after, with `table_line`."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import TypeVar

import msgspec

T = TypeVar("T")


def load(
    path: Path | None, shipped: str, what: str, struct: type[T], header: str, error: type[ValueError]
) -> tuple[T, str, str]:
    """The operator's file, or the shipped one of this package: (decoded, text, where)."""
    if path is None:
        text, where = resources.files(__package__).joinpath(shipped).read_text("utf-8"), shipped
    else:
        try:
            text, where = path.read_text("utf-8"), str(path)
        except OSError as exc:
            raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    return decode(text, where, struct, header, error), text, where


def decode(text: str, where: str, struct: type[T], header: str, error: type[ValueError]) -> T:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: {exc}") from None
    try:
        return msgspec.convert(data, struct)
    except msgspec.ValidationError as exc:
        raise error(f"{where}: line {error_line(text, header, str(exc))}: {exc}") from None


def table_line(text: str, header: str, index: int) -> int:
    """The line (1-based) of the `index`-th `header` (e.g. `[[slo]]`); 1 if there is none."""
    headers = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == header]
    return headers[index] if index < len(headers) else 1


def error_line(text: str, header: str, error: str) -> int:
    """Where a msgspec validation error points (`… - at `$.slo[2].objective``, or an unknown field)."""
    array = header.strip("[]")
    unknown = re.search(r"unknown field `(\w+)`", error)
    found = re.search(rf"\$\.{re.escape(array)}\[(\d+)\](?:\.(\w+))?", error)
    if found is None:
        key = re.search(r"\$\.(\w+)", error)
        return _key_line(text, unknown.group(1) if unknown else key.group(1) if key else "", 1, header)
    start = table_line(text, header, int(found.group(1)))
    return _key_line(text, found.group(2) or (unknown.group(1) if unknown else ""), start, header)


def _key_line(text: str, key: str, start: int, stop_at: str) -> int:
    lines = text.splitlines()
    for number in range(start, len(lines) + 1):
        line = lines[number - 1].strip()
        if number > start and line == stop_at:
            break
        if key and re.match(rf"{re.escape(key)}\s*=", line):
            return number
    return start
