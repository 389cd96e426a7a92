"""The restore drill at a tiny size: backup and restore run as commands and every row comes
back (bench/restore_drill.py; full size: `python3 bootstrap.py bench restore-drill`)."""

from __future__ import annotations

from bench.restore_drill import run


def test_the_drill_restores_every_contact_event_and_log_entry() -> None:
    result = run(contacts=500)
    assert result["rows_after_restore"] == {"contacts": 500, "message_events": 1000, "log_entries": 1000}
    assert result["backup_seconds"] > 0
    assert result["restore_seconds"] > 0
    assert result["backup_bytes"] > result["database_bytes"] // 2


def test_counting_a_request_is_measured_in_both_process_modes() -> None:
    from bench.metrics_cost import _measure

    for mode in ("one process", "workers"):
        assert 0 < _measure(mode) < 1000  # microseconds
