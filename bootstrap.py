#!/usr/bin/env python3
"""Bootstrap the development environment, then run a `just` recipe in it.

Usage: python3 bootstrap.py [RECIPE [ARGS...]]   (no recipe: list the recipes)

Idempotent: the first run creates `.venv` with uv and `just` (both from PyPI) and installs the
locked stack; later runs only re-sync when `uv.lock` changed, which uv detects in milliseconds.
Needs nothing but Python 3.11 and pip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
TOOLS = ("uv", "rust-just")


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        print("bootstrap: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not ((BIN / "uv").exists() and (BIN / "just").exists()):
        print("bootstrap: installing uv and just into .venv", flush=True)
        subprocess.run(
            [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *TOOLS],
            check=True,
        )
    # --inexact keeps uv and just, which the lock does not list.
    subprocess.run(
        [str(BIN / "uv"), "sync", "--locked", "--inexact", "--all-extras", "--quiet"],
        check=True,
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(VENV)},
    )


def main(argv: list[str]) -> int:  # noqa: RET503 - execve does not return
    if sys.version_info[:2] != (3, 11):
        print(f"bootstrap: Python 3.11 is required, this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    try:
        ensure_venv()
    except subprocess.CalledProcessError as exc:
        print(f"bootstrap: {' '.join(map(str, exc.cmd))} failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(VENV)}
    just = str(BIN / "just")
    os.chdir(ROOT)
    os.execve(just, [just, *argv], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
