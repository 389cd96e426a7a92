"""The retention file: how many days each kind of record is kept. Read and checked at start;
an error names the file and the line (toml_files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

import msgspec

from justmaily.server.ops import toml_files
from justmaily.server.ops.toml_files import table_line

# Kinds the server purges itself, and kinds kept elsewhere whose policy is stated here.
PURGED: Final = ("tracking", "message_events", "import_reports", "ops_indicators")
EXTERNAL: Final = ("access_logs",)
SHIPPED = "retention.toml"
_HEADER = "[[policy]]"


class Policy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: str
    days: Annotated[int, msgspec.Meta(ge=1, le=36500)]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class RetentionFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    policy: list[Policy]

    def days(self) -> dict[str, int]:
        return {p.kind: p.days for p in self.policy}


class RetentionFileError(ValueError):
    pass


def load(path: Path | None = None) -> RetentionFile:
    parsed, text, where = toml_files.load(
        path, SHIPPED, "retention file", RetentionFile, _HEADER, RetentionFileError
    )
    return _checked(parsed, text, where)


def parse(text: str, where: str) -> RetentionFile:
    return _checked(toml_files.decode(text, where, RetentionFile, _HEADER, RetentionFileError), text, where)


def _checked(parsed: RetentionFile, text: str, where: str) -> RetentionFile:
    seen: set[str] = set()
    for index, policy in enumerate(parsed.policy):
        line = table_line(text, _HEADER, index)
        if policy.kind not in PURGED + EXTERNAL:
            known = ", ".join(PURGED + EXTERNAL)
            raise RetentionFileError(f"{where}: line {line}: unknown kind {policy.kind!r} (known: {known})")
        if policy.kind in seen:
            raise RetentionFileError(f"{where}: line {line}: kind {policy.kind!r} has two policies")
        seen.add(policy.kind)
    missing = [kind for kind in PURGED if kind not in seen]
    if missing:
        raise RetentionFileError(f"{where}: no policy for {', '.join(missing)} (every kind needs one)")
    return parsed
