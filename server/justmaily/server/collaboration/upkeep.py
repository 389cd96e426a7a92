"""When a room brings up to date what depends on its document: the campaign row (its mirrored
texts, an approval voided by a change: materialise.py) and the insights (insights.py).

Doing both after every stored batch cost a read of the row per batch, and the insights' pass
over the whole body: with many rooms typing, more than storing the edits themselves. Most
batches change neither (typing in the body of a draft), so, after each batch:

- the row is checked at once when a text it mirrors changed, when any text changed while the
  document shows the campaign under review (an approval is voided without delay), when the
  review state the document shows changed, and on a room's first batch; otherwise at most
  every `ROW_CHECK_SECONDS` while edits come (catching a status change the document does not
  show yet);
- the insights are recomputed when a text changed, at most every `INSIGHTS_SECONDS`, and
  always once after the last change.

Only the room's own stored edits count: what other replicas store, their rooms look after.
"""

from __future__ import annotations

import math
from typing import Any

from pycrdt import Doc

from justmaily.shared.campaigns import CONTENT_FIELDS, UNDER_REVIEW
from justmaily.shared.document import review_state, texts

ROW_CHECK_SECONDS = 5.0
INSIGHTS_SECONDS = 1.0
_UNDER_REVIEW = frozenset(str(status) for status in UNDER_REVIEW)


class Upkeep:
    """One room's schedule: `edited` after each stored batch, `take` when `due`."""

    def __init__(
        self, row_every: float = ROW_CHECK_SECONDS, insights_every: float = INSIGHTS_SECONDS
    ) -> None:
        self.row_every = row_every
        self.insights_every = insights_every
        self._texts: dict[str, str] | None = None  # as at the last stored batch
        self._status: str | None = None
        self._row_due = self._insights_due = math.inf  # inf: nothing to do
        self._row_last = self._insights_last = -math.inf

    def edited(self, doc: Doc[Any], now: float) -> None:
        """A batch of the room's edits is stored: note what it changed."""
        values, status = texts(doc), review_state(doc).status
        before = self._texts
        changed = before is None or values != before
        at_once = (
            before is None
            or status != self._status
            or any(values[name] != before[name] for name in CONTENT_FIELDS)
            or (changed and status in _UNDER_REVIEW)
        )
        self._row_due = min(self._row_due, now if at_once else self._row_last + self.row_every)
        if changed:
            self._insights_due = min(self._insights_due, self._insights_last + self.insights_every)
        self._texts, self._status = values, status

    def due(self) -> float:
        """When something falls due (a `time.monotonic()` time; inf: nothing waits)."""
        return min(self._row_due, self._insights_due)

    def take(self, now: float, *, everything: bool = False) -> tuple[bool, bool]:
        """What is due now (or, `everything`, waits at all): (check the row, refresh insights)."""
        limit = math.inf if everything else now
        row = self._row_due <= limit and self._row_due != math.inf
        insights = self._insights_due <= limit and self._insights_due != math.inf
        if row:
            self._row_due, self._row_last = math.inf, now
        if insights:
            self._insights_due, self._insights_last = math.inf, now
        return row, insights

    def row_failed(self, now: float) -> None:
        """The row could not be checked: again after a while (the edits are stored)."""
        self._row_due = min(self._row_due, now + self.row_every)
