"""Benchmarks: `python3 bootstrap.py bench [NAME ...]`, NAME among api, api-load, rooms,
side-by-side, desktop, delivery, trust, restore-drill, metrics-cost, analytics, analytics-import,
protection, mesh (default: all). `bench api-load --help` lists the load benchmark's own options
(given after it).

Results: bench/results/."""

from __future__ import annotations

import sys

from bench import (
    analytics,
    analytics_import,
    api,
    api_load,
    delivery,
    desktop,
    mesh,
    metrics_cost,
    protection,
    restore_drill,
    rooms,
    rooms_side_by_side,
    trust,
)

SUITES = {
    "api": api.main,
    "api-load": api_load.main,
    "rooms": rooms.main,
    "side-by-side": rooms_side_by_side.main,
    "desktop": desktop.main,
    "delivery": delivery.main,
    "trust": trust.main,
    "restore-drill": restore_drill.main,
    "metrics-cost": metrics_cost.main,
    "analytics": analytics.main,
    "analytics-import": analytics_import.main,
    "protection": protection.main,
    "mesh": mesh.main,
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["api-load"]:
        return api_load.main(argv[1:])
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(SUITES)}", file=sys.stderr)
        return 2
    return max(SUITES[name]() for name in names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
