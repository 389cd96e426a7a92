"""Benchmarks: `python3 bootstrap.py bench [api|rooms|side-by-side|desktop|delivery|trust ...]`
(default: all).

Results: bench/results/."""

from __future__ import annotations

import sys

from bench import api, delivery, desktop, rooms, rooms_side_by_side, trust

SUITES = {
    "api": api.main,
    "rooms": rooms.main,
    "side-by-side": rooms_side_by_side.main,
    "desktop": desktop.main,
    "delivery": delivery.main,
    "trust": trust.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {sorted(SUITES)}", file=sys.stderr)
        return 2
    return max(SUITES[name]() for name in names)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
