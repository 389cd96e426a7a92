"""What the deployment tests share: where the material is, the validators (from .venv, and
checkov from an environment of its own), and a reader for Dockerfiles."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
CHECKOV_PROJECT = DEPLOY / "tools" / "checkov"
CHECKOV_VENV = ROOT / ".venv-checkov"
_TIMEOUT_SECONDS = 300


def run(*command: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """The command's standard output; a failure raises with both outputs, for the test's report."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def checkov() -> Path:
    """checkov's command, its locked environment made (or brought up to date) first.

    It lives apart from .venv (deploy/tools/checkov/pyproject.toml says why); uv makes it in
    seconds, and a file lock keeps two test workers from making it at once.
    """
    CHECKOV_VENV.parent.mkdir(parents=True, exist_ok=True)
    with (ROOT / ".venv-checkov.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run(
            BIN / "uv",
            "sync",
            "--locked",
            "--quiet",
            "--project",
            CHECKOV_PROJECT,
            env={"UV_PROJECT_ENVIRONMENT": str(CHECKOV_VENV)},
        )
    return CHECKOV_VENV / "bin" / "checkov"


@dataclass(frozen=True)
class CheckovReport:
    passed: list[str]
    failed: list[str]  # "CKV_…: resource (file)" for each failed check
    skipped: list[tuple[str, str]]  # (check id, the reason written beside the skip)


def run_checkov(*arguments: str | Path) -> CheckovReport:
    """checkov offline (no policy download, no API key) with a JSON report; it exits 1 when a
    check fails, so the report is read whatever the exit code."""
    result = subprocess.run(
        [str(checkov()), "--skip-download", "--output", "json", *map(str, arguments)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_SECONDS,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise AssertionError(f"checkov exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    reports = json.loads(result.stdout)
    passed: list[str] = []
    failed: list[str] = []
    skipped: list[tuple[str, str]] = []
    for report in reports if isinstance(reports, list) else [reports]:
        checks = report.get("results", {})
        passed += [check["check_id"] for check in checks.get("passed_checks", [])]
        failed += [
            f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
            for check in checks.get("failed_checks", [])
        ]
        skipped += [
            (check["check_id"], (check.get("check_result", {}).get("suppress_comment") or "").strip())
            for check in checks.get("skipped_checks", [])
        ]
    return CheckovReport(passed, failed, skipped)


def kustomize(folder: Path) -> str:
    """`kustomize build` of a folder: the kustomize binary where there is one, else kubectl's
    built-in copy (the machine image ships kubectl)."""
    if binary := shutil.which("kustomize"):
        return run(binary, "build", folder)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise AssertionError("neither kustomize nor kubectl is installed: `apt-get install kubectl`")
    return run(kubectl, "kustomize", folder)


def documents(text: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(text) if document]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, …
    arguments: str  # continuation lines joined
    stage: int  # 0 for the first FROM's stage, and so on


def dockerfile(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, continuation lines joined."""
    instructions: list[Instruction] = []
    stage = -1
    for line in _logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, arguments.strip(), stage))
    return instructions


def _logical_lines(text: str) -> Iterator[str]:
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield re.sub(r"\s+", " ", pending + line)
        pending = ""
