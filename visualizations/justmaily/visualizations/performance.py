"""The server's performance drawn with pyqtgraph: a latency heat-map, percentile, throughput and
error-rate lines per route, the error budgets' burn, and tiles for rooms, sending and the log.

Fed by `justmaily.shared.ops` structs only: `PerformanceDashboard.add_snapshot` takes each
snapshot as it comes (the history and its arithmetic are `performance_stats`'s), `show_slo` the
SLO report. No networking: the desktop polls and hands the answers over.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from justmaily.shared.ops import PerformanceSnapshot, SloReport, SloStatus
from justmaily.visualizations.performance_stats import (
    PERCENTILES,
    History,
    Interval,
    RouteKey,
    percentile,
    route_label,
    seconds_text,
)
from justmaily.visualizations.plot_view import MUTED_COLOUR, PlotView

__all__ = [
    "ALARM_COLOUR",
    "GOOD_COLOUR",
    "PERCENTILE_COLOURS",
    "WARN_COLOUR",
    "BudgetBurn",
    "GlanceTiles",
    "LatencyHeatMap",
    "PerformanceDashboard",
    "SeriesPlot",
]

GOOD_COLOUR = "#059669"
WARN_COLOUR = "#d97706"
ALARM_COLOUR = "#dc2626"
LINE_COLOUR = "#2563eb"
PERCENTILE_COLOURS = {0.5: "#2563eb", 0.95: "#d97706", 0.99: "#dc2626"}


class LatencyHeatMap(PlotView):
    """Time across, latency buckets up, colour = the interval's share of requests in the bucket."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Latency appears after two snapshots with requests", parent)
        self.plot.setAxisItems({"bottom": pg.DateAxisItem(orientation="bottom")})
        self.plot.setTitle("Latency heat-map (share of requests)")
        self.plot.setMouseEnabled(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.shares = np.zeros((0, 0))

    def show_heat_map(
        self, ends: Sequence[float], labels: Sequence[str], columns: Sequence[Sequence[float]]
    ) -> None:
        if not ends or not labels:
            self.shares = np.zeros((0, 0))
            self.image.clear()
            self._show_empty(True)
            return
        # Rows are buckets (up), columns intervals (across): transposed from the history's rows.
        self.shares = np.array(columns, dtype=float).T.reshape(len(labels), len(ends))
        self.image.setImage(self.shares, levels=(0.0, 1.0))
        step = ends[-1] - ends[-2] if len(ends) > 1 else 5.0
        start = ends[0] - step
        self.image.setRect(QRectF(start, 0.0, ends[-1] - start, float(len(labels))))
        self.plot.getAxis("left").setTicks([[(row + 0.5, label) for row, label in enumerate(labels)]])
        self.plot.setXRange(start, ends[-1], padding=0)
        self.plot.setYRange(0, len(labels), padding=0)
        self._show_empty(False)


class SeriesPlot(PlotView):
    """Lines over time with a legend: percentiles, throughput or error rate."""

    def __init__(
        self,
        title: str,
        unit: str,
        lines: dict[str, str],
        empty_text: str,
        *,
        si_prefix: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        """`si_prefix`: the axis scales its unit (s to ms); otherwise the unit is plain text."""
        super().__init__(empty_text, parent)
        self.plot.setAxisItems({"bottom": pg.DateAxisItem(orientation="bottom")})
        self.plot.setTitle(title)
        if si_prefix:
            self.plot.setLabel("left", units=unit)
        else:
            self.plot.setLabel("left", unit)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        if len(lines) > 1:
            self.plot.addLegend(offset=(-10, 10))
        self.lines = {
            name: self.plot.plot(pen=pg.mkPen(colour, width=2), name=name, connect="finite")
            for name, colour in lines.items()
        }

    def show_series(self, xs: Sequence[float], series: dict[str, Sequence[float | None]]) -> None:
        highest: float | None = None
        for name, line in self.lines.items():
            ys = [np.nan if y is None else y for y in series.get(name, [])]
            line.setData(list(xs), ys)
            drawn = [y for y in ys if not np.isnan(y)]
            if drawn:
                highest = max(drawn) if highest is None else max(highest, *drawn)
        self._show_empty(highest is None)
        if highest is not None:  # from zero: a flat line of zeros sits on the floor, not mid-plot
            self.plot.setYRange(0, highest * 1.15 if highest > 0 else 1.0, padding=0)


class BudgetBurn(QWidget):
    """Per objective: a bar of the error budget left, the burn rates per window, and the firing
    alerts in red."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Error budgets</b>")
        self.empty = QLabel("No service-level report yet")
        self.empty.setStyleSheet(f"color: {MUTED_COLOUR};")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setLabel("bottom", "Budget remaining (%)")
        self.plot.hideAxis("left")
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.6, width=[])
        self.plot.addItem(self.bars)
        self.labels: list[pg.TextItem] = []
        self.rows: list[tuple[str, float, str]] = []  # name, budget remaining, colour
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.title, self.empty, self.plot):
            layout.addWidget(widget)
        self.plot.hide()

    def show_report(self, report: SloReport | None) -> None:
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        objectives = list(report.objectives) if report else []
        self.rows = [(o.name, o.budget_remaining, _budget_colour(o)) for o in objectives]
        self.empty.setVisible(not objectives)
        self.plot.setVisible(bool(objectives))
        if not objectives:
            self.bars.setOpts(x0=[], y=[], width=[], brushes=[])
            return
        ys = list(range(len(objectives) - 1, -1, -1))  # the first objective on top
        widths = [max(0.0, min(1.0, o.budget_remaining)) * 100 for o in objectives]
        self.bars.setOpts(
            x0=[0] * len(objectives), y=ys, width=widths, brushes=[pg.mkBrush(c) for _n, _b, c in self.rows]
        )
        for y, objective, (_name, _budget, colour) in zip(ys, objectives, self.rows, strict=True):
            label = pg.TextItem(
                _budget_text(objective), color=colour if objective.alerts else "#111827", anchor=(0, 0.5)
            )
            label.setPos(2, y)
            self.plot.addItem(label)
            self.labels.append(label)
        self.plot.setXRange(0, 100, padding=0.02)
        self.plot.setYRange(-0.6, len(objectives) - 0.4, padding=0)


def _budget_colour(objective: SloStatus) -> str:
    if objective.alerts or objective.budget_remaining <= 0:
        return ALARM_COLOUR
    return WARN_COLOUR if objective.budget_remaining < 0.25 else GOOD_COLOUR


def _budget_text(objective: SloStatus) -> str:
    burns = "  ".join(
        f"{burn.window} {'n/a' if burn.rate is None else f'{burn.rate:.3g}x'}"
        for burn in objective.burn_rates
    )
    alerts = f"  FIRING: {', '.join(objective.alerts)}" if objective.alerts else ""
    return f"{objective.name}  {objective.budget_remaining * 100:.0f}% left   burn {burns}{alerts}"


class GlanceTiles(QWidget):
    """Small tiles: rooms, sending, the agent mesh, the log and the database pool, each a title and
    a few lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tiles: dict[str, QLabel] = {}
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for column, name in enumerate(("Rooms", "Sending", "Mesh", "Log", "Database")):
            tile = QLabel(f"<b>{name}</b><br>waiting for the server")
            tile.setObjectName(f"tile-{name.lower()}")
            tile.setFrameShape(QFrame.Shape.StyledPanel)
            tile.setTextFormat(Qt.TextFormat.RichText)
            tile.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            tile.setMargin(8)
            layout.addWidget(tile, 0, column)
            self.tiles[name] = tile

    def show_snapshot(self, snapshot: PerformanceSnapshot, edits_per_second: float | None) -> None:
        rooms = snapshot.rooms
        rate = "" if edits_per_second is None else f" ({edits_per_second:.1f}/s)"
        self._set(
            "Rooms",
            [
                (f"{rooms.connections} connected", False),
                (f"{rooms.edits} edits stored{rate}", False),
                (f"store lag p95 {seconds_text(percentile(rooms.store_lag, 0.95))}", False),
                (f"{rooms.store_failures} failed to store", rooms.store_failures > 0),
            ],
        )
        sending = snapshot.sending
        in_doubt = sending.outbox.get("in_doubt", 0)
        breakers = sending.open_breakers
        self._set(
            "Sending",
            [
                (
                    f"{sending.outbox.get('queued', 0)} queued, {sending.outbox.get('sending', 0)} sending",
                    False,
                ),
                (f"{in_doubt} in doubt", in_doubt > 0),
                (
                    f"breakers open: {', '.join(breakers)}" if breakers else "no relay breaker open",
                    bool(breakers),
                ),
                (
                    f"{sending.messages.get('sent', 0)} sent, {sending.messages.get('failed', 0)} failed",
                    False,
                ),
            ],
        )
        mesh = snapshot.mesh
        down, degraded = mesh.agents.get("down", 0), mesh.agents.get("degraded", 0)
        task_p95 = seconds_text(percentile(mesh.task_seconds, 0.95))
        without_agent = mesh.tasks.get("degraded", 0) + mesh.tasks.get("unavailable", 0)
        self._set(
            "Mesh",
            [
                (f"{mesh.agents.get('healthy', 0)} agents healthy", False),
                (f"{degraded} degraded, {down} down", down > 0 or degraded > 0),
                (
                    f"{mesh.in_flight} analyses running; p95 {task_p95}",
                    False,
                ),
                (
                    f"{without_agent} answered without an agent",
                    mesh.tasks.get("unavailable", 0) > 0,
                ),
            ],
        )
        lag = snapshot.log.publish_lag_seconds
        self._set(
            "Log",
            [(f"{snapshot.log.entries} entries", False), (f"unpublished for {seconds_text(lag)}", lag > 60)],
        )
        pool = snapshot.db_pool
        self._set(
            "Database",
            [(f"{pool.get('in_use', 0)} connections in use", False), (f"{pool.get('idle', 0)} idle", False)],
        )

    def text(self, name: str) -> str:
        """The tile's lines as plain text (for tests and screen readers)."""
        return self.tiles[name].accessibleDescription()

    def _set(self, name: str, lines: list[tuple[str, bool]]) -> None:
        """Each line with whether it is alarming (drawn red). Relay names come from people:
        escaped, as every line is."""
        shown = [
            f'<span style="color:{ALARM_COLOUR}">{html.escape(text)}</span>'
            if alarming
            else html.escape(text)
            for text, alarming in lines
        ]
        tile = self.tiles[name]
        tile.setText(f"<b>{name}</b><br>" + "<br>".join(shown))
        tile.setAccessibleDescription("\n".join(text for text, _alarming in lines))


class PerformanceDashboard(QWidget):
    """Everything together, with a route chooser for the heat-map and the lines."""

    ALL = "All routes"

    def __init__(self, parent: QWidget | None = None, *, keep: int = 120) -> None:
        super().__init__(parent)
        self.history = History(keep)
        self.route = QComboBox()
        self.route.setAccessibleName("Route")
        self.route.addItem(self.ALL, None)
        self.route.currentIndexChanged.connect(lambda _index: self.redraw())
        self.heat_map = LatencyHeatMap()
        self.percentiles = SeriesPlot(
            "Latency percentiles",
            "s",
            {f"p{round(q * 100)}": PERCENTILE_COLOURS[q] for q in PERCENTILES},
            "Percentiles appear after two snapshots with requests",
            si_prefix=True,
        )
        self.throughput = SeriesPlot(
            "Throughput", "req/s", {"requests/s": LINE_COLOUR}, "Throughput appears after two snapshots"
        )
        self.error_rate = SeriesPlot(
            "Server errors (5xx)", "% of requests", {"error rate": ALARM_COLOUR}, "No requests to rate yet"
        )
        self.budgets = BudgetBurn()
        self.tiles = GlanceTiles()
        top = QHBoxLayout()
        top.addWidget(QLabel("Route:"))
        top.addWidget(self.route, 1)
        grid = QGridLayout()
        grid.addWidget(self.heat_map, 0, 0)
        grid.addWidget(self.percentiles, 0, 1)
        grid.addWidget(self.throughput, 1, 0)
        grid.addWidget(self.error_rate, 1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tiles)
        layout.addLayout(grid, 3)
        layout.addWidget(self.budgets, 1)

    def selected_route(self) -> RouteKey | None:
        data = self.route.currentData()
        return (str(data[0]), str(data[1])) if data is not None else None

    def select_route(self, key: RouteKey | None) -> None:
        index = self.route.findText(route_label(key))
        if index >= 0:
            self.route.setCurrentIndex(index)

    def add_snapshot(self, snapshot: PerformanceSnapshot) -> None:
        self.history.add(snapshot)
        self._offer_routes()
        self.redraw()
        edits = None
        if len(self.history.snapshots) > 1:
            before, after = self.history.snapshots[-2], self.history.snapshots[-1]
            seconds = after.taken_at - before.taken_at
            if seconds > 0 and after.rooms.edits >= before.rooms.edits:
                edits = (after.rooms.edits - before.rooms.edits) / seconds
        self.tiles.show_snapshot(snapshot, edits)

    def show_slo(self, report: SloReport | None) -> None:
        self.budgets.show_report(report)

    def _offer_routes(self) -> None:
        offered = {self.route.itemText(i) for i in range(self.route.count())}
        for key in self.history.routes():
            if route_label(key) not in offered:
                self.route.addItem(route_label(key), list(key))

    def redraw(self) -> None:
        key = self.selected_route()
        self.heat_map.show_heat_map(*self.history.heat_map(key))
        intervals = self.history.intervals(key)
        xs = [i.end for i in intervals]
        self.percentiles.show_series(
            xs, {f"p{round(q * 100)}": [i.percentile(q) for i in intervals] for q in PERCENTILES}
        )
        self.throughput.show_series(xs, {"requests/s": [i.throughput for i in intervals]})
        self.error_rate.show_series(xs, {"error rate": [_percent(i) for i in intervals]})


def _percent(interval: Interval) -> float | None:
    rate = interval.error_rate
    return None if rate is None else rate * 100
