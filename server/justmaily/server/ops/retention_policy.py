"""The retention file: how many days each kind of record is kept. Read and checked at start;
an error names the file and the line (toml_lines)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Final

import msgspec

from justmaily.server.ops.toml_lines import error_line, table_line

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
    if path is None:
        text, where = resources.files(__package__).joinpath(SHIPPED).read_text("utf-8"), SHIPPED
    else:
        try:
            text, where = path.read_text("utf-8"), str(path)
        except OSError as exc:
            raise RetentionFileError(
                f"{path}: cannot read the retention file: {exc.strerror or exc}"
            ) from None
    return parse(text, where)


def parse(text: str, where: str) -> RetentionFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RetentionFileError(f"{where}: {exc}") from None
    try:
        parsed = msgspec.convert(data, RetentionFile)
    except msgspec.ValidationError as exc:
        raise RetentionFileError(f"{where}: line {error_line(text, _HEADER, str(exc))}: {exc}") from None
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
