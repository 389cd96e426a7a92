"""Schemathesis against a real demo server: `just fuzz-api` at length, the test suite briefly.

A throw-away `justmaily serve --demo` on SQLite (its own data folder, loopback, a free port), the
demo owner signed in so that the signed-in routes are exercised, then `schemathesis run` with every
check (`schemathesis.toml` says what our statuses mean) over every operation of the served
document, in all four phases (examples, coverage, fuzzing, stateful).

    python -m tests.support.fuzz_api [--examples N] [--seed N] [--workers N] [-- SCHEMATHESIS ARGS]

Exit status: schemathesis's (0 when it found nothing). The JSON report goes to --report-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.server_process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "schemathesis.toml"
OWNER = "owner@demo.example.com"
# The fuzzer sends thousands of requests a minute from one address, as one principal.
_SERVER_ENV = {
    "JUSTMAILY_PUBLIC_API_DOCS": "true",
    "JUSTMAILY_RATE_LIMIT_PER_IP": "1000000/minute",
    "JUSTMAILY_RATE_LIMIT_PER_PRINCIPAL": "1000000/minute",
    "JUSTMAILY_LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class FuzzRun:
    returncode: int
    output: str
    report: dict[str, Any]

    @property
    def summary(self) -> str:
        operations, cases = self.report.get("operations", {}), self.report.get("test_cases", {})
        findings = sum(failure["count"] for failure in self.report.get("failures", []))
        return (
            f"{operations.get('tested', 0)} operations, {cases.get('generated', 0)} cases, "
            f"{findings} findings, {len(self.report.get('errors', []))} errors"
        )


@contextmanager
def demo_server(data_dir: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A demo server on SQLite in `data_dir`, and an access token of its owner."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUSTMAILY_")}
    data_dir.mkdir(parents=True, exist_ok=True)
    env.update(_SERVER_ENV, JUSTMAILY_DATA_DIR=str(data_dir))
    server = ServerProcess(env, data_dir / "server.log", args=("--demo",)).start()
    try:
        password = (data_dir / "demo-password").read_text().strip()
        response = httpx.post(
            f"{server.url}/api/auth/login", json={"email": OWNER, "password": password}, timeout=10
        )
        response.raise_for_status()
        yield server, str(response.json()["access_token"])
    finally:
        server.stop()


def schemathesis(
    url: str,
    token: str,
    report_dir: Path,
    *,
    examples: int,
    seed: int,
    workers: int,
    extra: Sequence[str] = (),
) -> FuzzRun:
    report = report_dir / "schemathesis.json"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color", "run"),
        f"{url}/schema/openapi.json",
        *("--checks", "all", "--header", f"Authorization: Bearer {token}"),
        *("--max-examples", str(examples), "--seed", str(seed), "--workers", str(workers)),
        *("--report", "json", "--report-json-path", str(report)),
        *extra,
    ]
    # In the report folder: schemathesis and Hypothesis keep their caches in the working folder.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=report_dir)
    data = json.loads(report.read_text()) if report.exists() else {}
    return FuzzRun(done.returncode, done.stdout + done.stderr, data)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="fuzz-api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="cases per operation and phase")
    parser.add_argument("--seed", type=int, default=None, help="default: a new one each run")
    # More workers are not faster on two cores (the server is the other busy one), and two
    # race inside Hypothesis now and then (an internal error, not a finding).
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--report-dir", type=Path, default=ROOT / "fuzz-report")
    parser.add_argument("extra", nargs="*", help="more `schemathesis run` arguments (after --)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    args.report_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="justmaily-fuzz-") as folder,
        demo_server(Path(folder)) as (
            server,
            token,
        ),
    ):
        run = schemathesis(
            server.url,
            token,
            args.report_dir,
            examples=args.examples,
            seed=seed,
            workers=args.workers,
            extra=args.extra,
        )
        server_errors = [line for line in server.log().splitlines() if '"level": "error"' in line]
    lines = [run.output, f"fuzz-api: seed {seed}: {run.summary}; report in {args.report_dir}"]
    if server_errors:
        # Also failures a client never sees as a 5xx (in a background task); each cut short.
        lines += [
            f"fuzz-api: the server logged {len(server_errors)} errors:",
            *(e[:300] for e in server_errors),
        ]
    sys.stdout.write("\n".join(lines) + "\n")
    return run.returncode or (1 if server_errors else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
