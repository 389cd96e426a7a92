"""Where in a TOML file a checked setting lives, so an error names the line the operator wrote:
the n-th `[[table]]` of an array of tables, and a key within it."""

from __future__ import annotations

import re


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
