"""What counting one request costs (metrics and the service-level indicators), per process mode:
`python3 bootstrap.py bench metrics-cost`. Compare with a request's own CPU time (bench api-load)
for the overhead; the issue's budget is 3 % of throughput (docs/operations.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from bench.report import save

_N = 20_000


def _measure(mode: str) -> float:
    """Microseconds per counted request, in a fresh process (the mode is chosen at import)."""
    env = dict(os.environ)
    if mode == "workers":
        env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="justmaily-metrics-bench-")
    code = (
        "import timeit\n"
        "from justmaily.server.http import request_context as rc\n"
        "scope = {'type': 'http', 'method': 'GET', 'path_template': '/api/campaigns/{campaign_id}'}\n"
        "count = lambda: rc._count(scope, 200, 0.004)\n"
        f"print(min(timeit.repeat(count, number={_N}, repeat=7)) / {_N} * 1e6)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)  # noqa: S603
    return float(output.stdout.strip())


def main() -> int:
    results = {mode: round(_measure(mode), 2) for mode in ("one process", "workers")}
    for mode, micros in results.items():
        print(f"{mode}: {micros} µs per request counted")
    print(f"results: {save('metrics-cost', results)}")
    return 0
