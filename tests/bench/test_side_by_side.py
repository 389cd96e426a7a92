"""The side-by-side rooms benchmark, at a tiny size: both servers relay every edit, and the report
has every column for both (bench/rooms_side_by_side.py; full size: `bootstrap.py bench side-by-side`)."""

from __future__ import annotations

from bench.rooms_side_by_side import Load, Timing, node, run, table

EDIT = Load("busy", "edit", rooms=2, per_room=2, rate=2.0)
IDLE = Load("idle", "idle", rooms=2, per_room=3)
EDIT_COLUMNS = {
    "connections synced",
    "connect-to-synced p50 ms",
    "connect-to-synced p99 ms",
    "server CPU ms per connection",
    "server KiB per connection",
    "edit-to-peer p50 ms",
    "edit-to-peer p99 ms",
    "edit-to-peer max ms",
    "deliveries expected",
    "deliveries received",
    "undelivered 5 s after last edit",
    "server CPU µs per delivered edit",
    "closed by the server",
}
IDLE_COLUMNS = {
    "connections synced",
    "connect-to-synced p50 ms",
    "connect-to-synced p99 ms",
    "server CPU ms per connection",
    "server KiB per connection",
    "server CPU % while held",
    "closed by the server",
}


def test_both_servers_relay_every_edit_and_the_table_has_every_column() -> None:
    node()  # fails with how to install Node.js and the packages, if missing
    timing = Timing(duration=2.0, drain=5.0, hold=1.0, concurrency=4, connect_timeout=20)

    results = run([EDIT, IDLE], timing, fresh_servers=False)

    edit = results["loads"]["busy"]["medians"]
    for server in ("justmaily", "reference"):
        figures = edit[server]
        assert set(figures) == EDIT_COLUMNS
        assert figures["connections synced"] == 4
        # 2 rooms x 2 editors x 2 edits/s for 2 s: about 16 edits, each for the one other editor.
        assert figures["deliveries expected"] >= 12
        assert figures["deliveries received"] == figures["deliveries expected"], server
        assert figures["undelivered 5 s after last edit"] == 0
        assert figures["closed by the server"] == 0
        assert 0 < figures["edit-to-peer p50 ms"] <= figures["edit-to-peer max ms"]
    idle = results["loads"]["idle"]["medians"]
    for server in ("justmaily", "reference"):
        assert set(idle[server]) == IDLE_COLUMNS
        assert idle[server]["connections synced"] == 6
        assert idle[server]["closed by the server"] == 0

    printed = table(EDIT, edit) + "\n" + table(IDLE, idle)
    for column in EDIT_COLUMNS | IDLE_COLUMNS:
        assert column in printed
    assert "JustMaily" in printed
    assert "reference" in printed
