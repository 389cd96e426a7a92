"""The transparency log drawn with pyqtgraph: the chain of tree heads, one entry's inclusion path
and the campaign certificates' statuses. Fed by `justmaily.shared.trust` structs only.

Each view is a plain QWidget holding a `pg.PlotWidget` and a label for its empty state (and, for
the chain, for an alarm), so a view with nothing to show says so in words instead of an empty
pair of axes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QWidget

from justmaily.shared.trust import CampaignCertificate, CertificateStatus, InclusionProof, LogEntry, TreeHead
from justmaily.shared.verify.transparency import leaf_hash, node_hash
from justmaily.visualizations.plot_view import MUTED_COLOUR, PlotView

__all__ = [
    "ALARM_COLOUR",
    "HEAD_COLOUR",
    "STATUS_COLOURS",
    "CertificateStatuses",
    "InclusionPath",
    "PathNode",
    "TreeHeadChain",
    "inclusion_path",
]

HEAD_COLOUR = "#2563eb"
ALARM_COLOUR = "#dc2626"
MATCH_COLOUR = "#059669"
STATUS_COLOURS = {
    CertificateStatus.VALID: "#059669",
    CertificateStatus.REVOKED: "#dc2626",
    CertificateStatus.EXPIRED: "#9ca3af",
}
_SHORT = 8  # hex digits of a hash shown on a node; the tooltip has all of them


def short(digest: bytes) -> str:
    return digest.hex()[:_SHORT]


# The chain of tree heads -------------------------------------------------------------------------


class TreeHeadChain(PlotView):
    """Tree size over publish time, a point per verified head; an alarm in red with its reason
    (and the head that raised it, when the server sent one)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No verified tree heads yet", parent)
        self.plot.setAxisItems({"bottom": pg.DateAxisItem(orientation="bottom")})
        self.plot.setLabel("left", "Entries (tree size)")
        self.plot.setLabel("bottom", "Published")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.line = pg.PlotDataItem(pen=pg.mkPen(HEAD_COLOUR, width=1.5))
        self.points = pg.ScatterPlotItem(size=9, hoverable=True, tip=_tip)
        self.alarm_point = pg.ScatterPlotItem(size=16, symbol="x", hoverable=True, tip=_tip)
        self.alarm_text = pg.TextItem(color=ALARM_COLOUR, anchor=(1, 1))
        for item in (self.line, self.points, self.alarm_point, self.alarm_text):
            self.plot.addItem(item)
        self.alarm = QLabel()
        self.alarm.setObjectName("trust-chain-alarm")
        self.alarm.setWordWrap(True)
        self.alarm.setStyleSheet(f"color: {ALARM_COLOUR}; font-weight: bold;")
        self.alarm.hide()
        self.layout_.insertWidget(0, self.alarm)

    def show_chain(
        self, heads: Sequence[TreeHead], *, alarm: str = "", alarm_head: TreeHead | None = None
    ) -> None:
        xs = [_when(head) for head in heads]
        ys = [float(head.size) for head in heads]
        self.line.setData(xs, ys)
        self.points.setData(
            x=xs, y=ys, brush=pg.mkBrush(HEAD_COLOUR), pen=pg.mkPen("w"), data=[_head_tip(h) for h in heads]
        )
        self.alarm.setText(f"Fork: {alarm}" if alarm else "")
        self.alarm.setVisible(bool(alarm))
        if alarm and alarm_head is not None:
            x, y = _when(alarm_head), float(alarm_head.size)
            tip = f"Not accepted: {alarm}\n{_head_tip(alarm_head)}"
            self.alarm_point.setData(
                x=[x], y=[y], brush=pg.mkBrush(ALARM_COLOUR), pen=pg.mkPen(ALARM_COLOUR, width=2), data=[tip]
            )
            self.alarm_text.setText(_clip(alarm, 60))
            self.alarm_text.setPos(x, y)
            self.alarm_text.show()
        else:
            self.alarm_point.setData(x=[], y=[])
            self.alarm_text.hide()
        self._show_empty(not heads and self.alarm_point.data.size == 0)
        self.plot.enableAutoRange()


def _when(head: TreeHead) -> float:
    return head.published_at.timestamp()


def _head_tip(head: TreeHead) -> str:
    return f"size {head.size}\nroot {head.root_hash}\npublished {head.published_at:%Y-%m-%d %H:%M:%S %Z}"


def _tip(x: float, y: float, data: object) -> str:
    return str(data)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# An entry's inclusion path -----------------------------------------------------------------------


@dataclass(frozen=True)
class PathNode:
    """A node of the drawn path: `x` 0 for the path itself, -1/+1 for a sibling on that side."""

    level: int
    x: int
    digest: bytes
    role: str  # "leaf", "node", "sibling" or "root"


def inclusion_path(entry: LogEntry, proof: InclusionProof) -> list[PathNode] | None:
    """The nodes from the entry's leaf (hashed here from its bytes) up to the root the proof
    leads to, with the sibling joined at each step; None when the proof cannot be followed.

    The left/right walk is RFC 9162 §2.1.3.2's, as `transparency.verify_inclusion` does it."""
    try:
        leaf = base64.b64decode(entry.leaf, validate=True)
        hashes = [base64.b64decode(h, validate=True) for h in proof.hashes]
    except (binascii.Error, ValueError):
        return None
    if not 0 <= proof.index < proof.tree_size:
        return None
    current = leaf_hash(leaf)
    nodes = [PathNode(0, 0, current, "leaf")]
    fn, sn = proof.index, proof.tree_size - 1
    for level, sibling in enumerate(hashes, start=1):
        if sn == 0:
            return None  # longer than the path to the root
        if fn & 1 or fn == sn:
            nodes.append(PathNode(level - 1, -1, sibling, "sibling"))
            current = node_hash(sibling, current)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            nodes.append(PathNode(level - 1, 1, sibling, "sibling"))
            current = node_hash(current, sibling)
        fn, sn = fn >> 1, sn >> 1
        nodes.append(PathNode(level, 0, current, "node"))
    if sn != 0:
        return None  # shorter than the path to the root
    last = nodes[-1]
    nodes[-1] = PathNode(last.level, 0, last.digest, "root")
    return nodes


class InclusionPath(PlotView):
    """The leaf, its sibling hashes up to the root, short hashes on the nodes. The root is green
    when it is the signed head's root, red when not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Choose an entry to see its inclusion path", parent)
        self.plot.hideAxis("bottom")
        self.plot.hideAxis("left")
        self.plot.setMouseEnabled(x=False, y=False)
        self.edges = pg.PlotDataItem(pen=pg.mkPen(MUTED_COLOUR, width=1.2), connect="pairs")
        self.nodes = pg.ScatterPlotItem(size=14, hoverable=True, tip=_tip)
        self.plot.addItem(self.edges)
        self.plot.addItem(self.nodes)
        self.labels: list[pg.TextItem] = []
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.layout_.insertWidget(0, self.caption)

    def clear(self, message: str = "") -> None:
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        self.edges.setData([], [])
        self.nodes.setData(x=[], y=[])
        self.caption.setText(message)
        self._show_empty(True)

    def show_path(self, entry: LogEntry, proof: InclusionProof, head: TreeHead) -> bool:
        """Draw the path; True when it leads to `head`'s root (the proof is for `head`'s size)."""
        self.clear()
        path = inclusion_path(entry, proof)
        if path is None:
            self.caption.setText(f"Entry {entry.index}: the proof cannot be followed to a root")
            self.caption.setStyleSheet(f"color: {ALARM_COLOUR};")
            return False
        signed = _b64_or_none(head.root_hash)
        matches = path[-1].digest == signed and proof.tree_size == head.size
        colours = {"leaf": HEAD_COLOUR, "node": MUTED_COLOUR, "sibling": "#9ca3af"}
        colours["root"] = MATCH_COLOUR if matches else ALARM_COLOUR
        xs, ys = [], []
        spots = []
        for node in path:
            colour = colours[node.role]
            spots.append(
                {
                    "pos": (node.x, node.level),
                    "brush": pg.mkBrush(colour),
                    "pen": pg.mkPen(colour),
                    "data": f"{node.role}\n{node.digest.hex()}",
                }
            )
            label = pg.TextItem(f"{node.role} {short(node.digest)}", color=colour, anchor=(0.5, 1.4))
            label.setPos(node.x, node.level)
            self.plot.addItem(label)
            self.labels.append(label)
            if node.role in ("node", "root"):  # both of the level below join here
                for child in path:
                    if child.level == node.level - 1 and child.role != "root":
                        xs += [child.x, node.x]
                        ys += [child.level, node.level]
        self.nodes.setData(spots=spots)
        self.edges.setData(xs, ys)
        verdict = "leads to the signed root" if matches else "does NOT lead to the signed root"
        self.caption.setText(
            f"Entry {entry.index} in the tree of {head.size} entries: its path {verdict} {head.root_hash}"
        )
        self.caption.setStyleSheet(f"color: {MATCH_COLOUR if matches else ALARM_COLOUR};")
        self._show_empty(False)
        self.plot.setXRange(-1.6, 1.6)
        self.plot.setYRange(-0.5, path[-1].level + 0.8)
        return matches


def _b64_or_none(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# Certificates ------------------------------------------------------------------------------------


class CertificateStatuses(PlotView):
    """Each certificate as a bar over its validity (cut at its revocation), one colour per status,
    with a legend."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No campaign certificates to show", parent)
        self.plot.setAxisItems({"bottom": pg.DateAxisItem(orientation="bottom")})
        self.plot.setLabel("bottom", "Validity")
        self.legend = self.plot.addLegend(offset=(10, 10))
        self.bars: dict[CertificateStatus, pg.PlotDataItem] = {}
        for status in CertificateStatus:
            colour = STATUS_COLOURS[status]
            bar = pg.PlotDataItem(
                pen=pg.mkPen(colour, width=6),
                connect="pairs",
                name=status.value,
                symbol="o",
                symbolBrush=pg.mkBrush(colour),
                symbolPen=pg.mkPen(colour),
                symbolSize=7,
            )
            self.plot.addItem(bar)
            self.bars[status] = bar

    def show_certificates(self, certificates: Sequence[CampaignCertificate]) -> None:
        ticks = []
        segments: dict[CertificateStatus, tuple[list[float], list[float]]] = {
            status: ([], []) for status in CertificateStatus
        }
        for row, certificate in enumerate(certificates):
            xs, ys = segments[certificate.status]
            end = certificate.not_after
            if certificate.status is CertificateStatus.REVOKED and certificate.revoked_at is not None:
                end = min(end, certificate.revoked_at)
            xs += [_stamp(certificate.not_before), _stamp(end)]
            ys += [row, row]
            ticks.append((row, f"r{certificate.revision} · {certificate.serial[:_SHORT]}"))
        for status, (xs, ys) in segments.items():
            self.bars[status].setData(xs, ys)
        self.plot.getAxis("left").setTicks([ticks])
        self._show_empty(not certificates)
        self.plot.enableAutoRange()

    def counts(self) -> dict[CertificateStatus, int]:
        """How many certificates each status's bars show."""
        return {
            status: len(bar.xData if bar.xData is not None else []) // 2 for status, bar in self.bars.items()
        }


def _stamp(moment: datetime) -> float:
    return moment.timestamp()
