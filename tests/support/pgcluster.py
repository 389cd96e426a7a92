"""A throw-away PostgreSQL cluster from the machine's own server binaries, on loopback.

Used by the test plugin (when JUSTMAILY_TEST_POSTGRES_URL is not set) and by `.ci/run`:

    python -m tests.support.pgcluster start DIR   # prints the admin URL; DIR holds the cluster
    python -m tests.support.pgcluster stop DIR

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user.
Durability is switched off (fsync, full-page writes): the cluster dies with the test run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

_START_TIMEOUT_SECONDS = 60


class PostgresUnavailableError(RuntimeError):
    pass


def find_bindir() -> Path:
    def version(bindir: Path) -> int:
        return int(bindir.parent.name) if bindir.parent.name.isdigit() else 0

    candidates = [str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version)]
    if on_path := shutil.which("initdb"):
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL 15 "
        "(Debian: apt-get install postgresql-15) or set JUSTMAILY_TEST_POSTGRES_URL to a server you run."
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_cluster_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    result = subprocess.run(
        _as_cluster_user(command),
        capture_output=True,
        text=True,
        timeout=_START_TIMEOUT_SECONDS + 30,
        check=False,
    )
    if result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip()
        raise PostgresUnavailableError(f"{Path(command[0]).name} failed ({result.returncode}): {output}")


def start(root: Path) -> str:
    """Create and start a cluster under `root` (its parent must be reachable by the server's user);
    returns the superuser URL."""
    bindir = find_bindir()
    root.mkdir(parents=True, exist_ok=True)
    data, socket_dir, log = root / "data", root / "sock", root / "server.log"
    socket_dir.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ]
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {socket_dir} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    _run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            str(_START_TIMEOUT_SECONDS),
            "start",
        ]
    )
    (root / "port").write_text(str(port))
    return url_of(root)


def url_of(root: Path) -> str:
    return f"postgresql://postgres@127.0.0.1:{(root / 'port').read_text().strip()}/postgres"


def stop(root: Path) -> None:
    data = root / "data"
    if (data / "postmaster.pid").exists():
        with contextlib.suppress(PostgresUnavailableError):
            _run([str(find_bindir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)  # noqa: T201
        return 2
    root = Path(argv[1])
    if argv[0] == "start":
        print(start(root))  # noqa: T201
    else:
        stop(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
