"""The SLO file: read and checked once at start; an error names the file and the line.

Also the alerting policy the rules and the server's own compliance share: multi-window,
multi-burn-rate alerts (the Google SRE workbook's): an error budget burning 14.4 times too fast
over 1 h and 5 min, or 6 times over 6 h and 30 min, pages; 1 time over 3 days and 6 h opens a
ticket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NamedTuple

import msgspec

from justmaily.server.metrics import sli
from justmaily.server.ops import toml_files
from justmaily.server.ops.toml_files import table_line

# Objectives whose indicator is a duration compared with a threshold.
_NEEDS_THRESHOLD = frozenset({sli.LATENCY, sli.ROOM_DELIVERY, sli.TREE_HEAD_FRESHNESS})
SHIPPED = "slos.toml"
_HEADER = "[[slo]]"


class Objective(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    objective: Annotated[float, msgspec.Meta(gt=0, lt=1)]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    threshold_seconds: Annotated[float, msgspec.Meta(gt=0)] | None = None

    @property
    def budget(self) -> float:
        """The share of events that may be bad."""
        return 1 - self.objective


class SloFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    window_days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 30
    slo: list[Objective]

    def thresholds(self) -> dict[str, float]:
        return {o.name: o.threshold_seconds for o in self.slo if o.threshold_seconds is not None}


class BurnAlert(NamedTuple):
    severity: str
    long_window: str
    short_window: str
    factor: float


BURN_ALERTS = (
    BurnAlert("page", "1h", "5m", 14.4),
    BurnAlert("page", "6h", "30m", 6.0),
    BurnAlert("ticket", "3d", "6h", 1.0),
)
WINDOW_SECONDS = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600, "3d": 259200}


class SloFileError(ValueError):
    pass


def load(path: Path | None = None) -> SloFile:
    """The operator's file, or the shipped one."""
    slos, text, where = toml_files.load(path, SHIPPED, "SLO file", SloFile, _HEADER, SloFileError)
    return _checked(slos, text, where)


def parse(text: str, where: str) -> SloFile:
    return _checked(toml_files.decode(text, where, SloFile, _HEADER, SloFileError), text, where)


def _checked(slos: SloFile, text: str, where: str) -> SloFile:
    seen: set[str] = set()
    for index, slo in enumerate(slos.slo):
        line = table_line(text, _HEADER, index)
        if slo.name not in sli.KNOWN:
            known = ", ".join(sli.KNOWN)
            raise SloFileError(f"{where}: line {line}: unknown objective {slo.name!r} (known: {known})")
        if slo.name in seen:
            raise SloFileError(f"{where}: line {line}: objective {slo.name!r} is defined twice")
        if (slo.threshold_seconds is None) == (slo.name in _NEEDS_THRESHOLD):
            wanted = "needs" if slo.name in _NEEDS_THRESHOLD else "takes no"
            raise SloFileError(f"{where}: line {line}: objective {slo.name!r} {wanted} threshold_seconds")
        seen.add(slo.name)
    return slos
